/** /ml/projects/{id}/rounds/: the project's active-learning rounds. The open round (its pool,
 * strategy and picks with score, rank and why), a form that starts a round (reviewers and
 * owners) with its Job's progress bar, the earlier rounds, and the learning curve: the test
 * metric of each round's model version against the labelled cases it trained on. */

import "./ml.css";
import type { Api, Schemas } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { lineChart } from "./charts";
import { canRunJobs, errorText, frame, link, notice, projectName, section } from "./common";
import { formatWhen } from "./format";
import { JobProgress } from "./progress";

export type Round = Omit<Schemas["Round"], "job" | "params" | "model_version_metrics" | "created_by"> & {
  job: Job | null;
  params: {
    seed?: number;
    aggregate?: string;
    readers?: number[];
    rare_class?: string;
    rare_share?: number;
    mc_samples?: number;
    budget_minutes?: number;
    minutes_per_exam?: Record<string, number>;
  };
  model_version_metrics: Record<string, number>;
  created_by: string | null;
};

type RoundRequest = Pick<Schemas["RoundCreateRequest"], "strategy"> & Partial<Omit<Schemas["RoundCreateRequest"], "project" | "strategy">>;

/** The strategies a round runs (ml/services/active_learning.py ROUND_STRATEGIES), and what
 * their score means. */
export const STRATEGIES: [string, string][] = [
  ["entropy", "Entropy of the predicted classes"],
  ["least_confidence", "Least confidence (1 − top probability)"],
  ["margin", "Smallest margin between the two top classes"],
  ["coreset", "Core-set: farthest from every read exam (embeddings)"],
  ["badge", "BADGE: uncertain and diverse (gradient embeddings)"],
  ["bald", "BALD: disagreement between dropout passes"],
  ["random", "Random (the baseline)"],
];

/** "US=4, MG=6" as {US: 4, MG: 6}; null when a part is not MODALITY=minutes (pure). */
export function parseMinutes(text: string): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const match = /^([A-Za-z]{2,4})\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!match) return null;
    out[match[1]!.toUpperCase()] = Number(match[2]);
  }
  return out;
}

/** Why an exam was picked, in words (pure). */
export function pickReason(round: Pick<Round, "strategy" | "params">, score: number, rank: number, reason?: string): string {
  if (reason === "balance") return `class-balance guard: probability of ${round.params.rare_class ?? "the rare class"} ${score.toFixed(3)}`;
  if (round.strategy === "random") return `drawn at random (seed ${round.params.seed ?? 0})`;
  if (round.strategy === "coreset")
    return rank === 1 && score === 0 ? "the seeded first centre (nothing read yet)" : `farthest from the read and earlier picks: distance ${score.toFixed(3)}`;
  if (round.strategy === "badge") return `gradient embedding of norm ${score.toFixed(3)} (uncertainty × features), spread from the earlier picks`;
  if (round.strategy === "bald")
    return `${rank === 1 ? "the most disputed exam" : `disagreement rank ${rank}`}: mutual information ${score.toFixed(3)} over ${round.params.mc_samples ?? 10} dropout passes`;
  const what = STRATEGIES.find(([name]) => name === round.strategy)?.[1].toLowerCase() ?? round.strategy;
  const how = round.params.aggregate === "mean" ? "mean over its images" : "its most uncertain image";
  return `${rank === 1 ? "the most uncertain exam" : `uncertainty rank ${rank}`}: ${what} ${score.toFixed(3)} (${how})`;
}

/** The headline metric the rounds' versions share: AUC, else Dice, else accuracy (pure). */
export function curveMetric(rounds: Round[]): string {
  return ["auc", "dice", "accuracy"].find((k) => rounds.some((r) => typeof r.model_version_metrics[k] === "number")) ?? "auc";
}

/** (labels used, metric) of each round's model version, in order of labels (pure). */
export function learningCurve(rounds: Round[], metric = "auc"): [number, number][] {
  const seen = new Map<number, number>();
  for (const r of rounds) {
    const m = r.model_version_metrics;
    if (typeof m[metric] === "number" && typeof m.labels_used === "number") seen.set(m.labels_used, m[metric]!);
  }
  return [...seen.entries()].sort((a, b) => a[0] - b[0]);
}

export class RoundsView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;
  private readonly openArea = h("div", { id: "open-round" });
  private readonly historyBody = h("tbody");
  private readonly curveArea = h("div", { id: "learning-curve" });
  private readonly projectId: number;

  constructor(
    private readonly api: Api,
    private readonly config: SenolabConfig,
  ) {
    this.projectId = config.projectId ?? 0;
    const { page, main } = frame(config, `Active learning: ${projectName(config, this.projectId)}`, link(`/?project=${this.projectId}`, "Worklist"));
    this.el = page;
    this.main = main;
  }

  async start(): Promise<void> {
    if (canRunJobs(this.config, this.projectId)) this.main.append(this.startForm());
    this.main.append(
      section("Open round", this.openArea),
      section(
        "Rounds",
        h(
          "table",
          { className: "ml-table", id: "rounds" },
          h("thead", {}, h("tr", {}, ...["Round", "Strategy", "Budget", "Pool", "State", "Model version", "Started by", "Started"].map((t) => h("th", {}, t)))),
          this.historyBody,
        ),
      ),
      section("Learning curve", this.curveArea),
    );
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const body = await this.api.get<{ results: Round[] } | Round[]>("/api/active-rounds/", { project: this.projectId, page_size: 100 });
    const rounds = Array.isArray(body) ? body : body.results;
    this.showOpen(rounds.find((r) => r.state === "open") ?? null);
    this.showHistory(rounds);
    const metric = curveMetric(rounds);
    const points = learningCurve(rounds, metric);
    const chart = lineChart({ title: `Test ${metric} against labelled cases`, xLabel: "labelled cases", yLabel: metric, series: [{ name: "model of each round", points, dots: true }], xIntegers: true });
    this.curveArea.replaceChildren(chart ?? notice("No round's model version has a test metric yet."));
  }

  private showOpen(round: Round | null): void {
    if (!round) {
      this.openArea.replaceChildren(notice("No round is open: the worklist follows its default order."));
      return;
    }
    const rows = round.picks.map((p) =>
      h(
        "tr",
        { dataset: { exam: p.exam } },
        h("td", { className: "num" }, String(p.rank)),
        h("td", {}, link(`/exams/${p.exam}/`, `exam ${p.exam}`)),
        h("td", { className: "num" }, p.score.toFixed(3)),
        h("td", {}, pickReason(round, p.score, p.rank, p.reason) + (p.minutes ? ` · ${p.minutes} min` : "")),
      ),
    );
    const close = h("button", { type: "button" }, "Close the round");
    close.addEventListener("click", () => {
      close.disabled = true;
      void this.api
        .post(`/api/active-rounds/${round.id}/close/`, {})
        .then(() => this.refresh())
        .catch((err) => this.openArea.append(notice(`The round could not be closed: ${errorText(err)}`, "error")));
    });
    this.openArea.replaceChildren(
      h(
        "p",
        { className: "round-summary", dataset: { testid: "round-summary" } },
        `Round ${round.id}: ${round.strategy}, ${round.picks.length} of ${round.pool_size} unread exams picked by model version v${round.model_version ?? "?"}. Their readings lead the worklist, rank 1 first.`,
      ),
      h("table", { className: "ml-table", id: "picks" }, h("thead", {}, h("tr", {}, ...["Rank", "Exam", "Score", "Why"].map((t) => h("th", {}, t)))), h("tbody", {}, ...rows)),
      canRunJobs(this.config, this.projectId) ? close : "",
    );
  }

  private showHistory(rounds: Round[]): void {
    this.historyBody.replaceChildren();
    if (!rounds.length) this.historyBody.append(h("tr", {}, h("td", { colSpan: 8, className: "muted" }, "No rounds yet.")));
    for (const r of rounds) {
      this.historyBody.append(
        h(
          "tr",
          { dataset: { round: r.id } },
          h("td", {}, `#${r.id}`),
          h("td", {}, r.strategy),
          h("td", { className: "num" }, String(r.budget)),
          h("td", { className: "num" }, String(r.pool_size)),
          h("td", {}, h("span", { className: `status-pill ${r.state}` }, r.state)),
          h("td", {}, r.model_version ? link(`/ml/versions/${r.model_version}/`, `v${r.model_version}`) : "—"),
          h("td", {}, r.created_by ?? "—"),
          h("td", {}, formatWhen(r.created_at)),
        ),
      );
    }
  }

  private startForm(): HTMLElement {
    const strategy = h("select", { name: "strategy", "aria-label": "Strategy" });
    for (const [value, text] of STRATEGIES) strategy.append(h("option", { value }, text));
    const budget = h("input", { type: "number", name: "budget", min: "1", value: "10", "aria-label": "Budget (exams)" });
    const rare = h("input", { type: "text", name: "rare_class", placeholder: "e.g. malignant", "aria-label": "Rare class (balance guard)" });
    const minutes = h("input", { type: "number", name: "budget_minutes", min: "1", placeholder: "optional", "aria-label": "Budget (readers' minutes)" });
    const perExam = h("input", { type: "text", name: "minutes_per_exam", placeholder: "e.g. US=4, MG=6", "aria-label": "Minutes per exam" });
    const button = h("button", { type: "submit", className: "primary" }, "Start a round");
    const area = h("div", { className: "job-area" });
    const form = h(
      "form",
      { className: "ml-form", "aria-label": "Start a round" },
      h("label", {}, h("span", {}, "Strategy"), strategy),
      h("label", {}, h("span", {}, "Budget (exams)"), budget),
      h("label", {}, h("span", {}, "Rare class (a fifth of the picks)"), rare),
      h("label", {}, h("span", {}, "Budget (readers' minutes)"), minutes),
      h("label", {}, h("span", {}, "Minutes per exam (no recorded times)"), perExam),
      button,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      button.disabled = true;
      const body: RoundRequest = { strategy: strategy.value, budget: Number(budget.value) };
      if (rare.value.trim()) body.rare_class = rare.value.trim();
      if (minutes.value) {
        body.budget_minutes = Number(minutes.value);
        body.minutes_per_exam = parseMinutes(perExam.value) ?? {};
      }
      void this.startRound(body, area).finally(() => (button.disabled = false));
    });
    return section("Start a round", form, h("p", { className: "muted" }, "The project's active model scores every exam no reader has been given; the picks go to the front of the worklist."), area);
  }

  private async startRound(body: RoundRequest, area: HTMLElement): Promise<void> {
    const progress = new JobProgress("Round progress");
    const result = h("p", { className: "job-result", dataset: { testid: "job-result" } });
    area.replaceChildren(progress.el, result);
    progress.starting("Scoring the pool…");
    try {
      const round = await this.api.post<Round>("/api/active-rounds/", { project: this.projectId, ...body });
      const job = round.job ? await progress.track(this.api, round.job) : null;
      result.textContent = job && job.status !== "succeeded" ? `Round ${round.id} ended ${job.status}: ${job.error || job.message}` : `Round ${round.id} is open.`;
      await this.refresh();
    } catch (err) {
      progress.show({ status: "failed", progress: 0, message: "", error: errorText(err) });
      result.textContent = `The round could not be started: ${errorText(err)}`;
      result.classList.add("error");
    }
  }
}
