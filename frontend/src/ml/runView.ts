/** /ml/runs/{id}/: one training run: its Job's progress (cancel for reviewers and owners), the
 * loss and validation-score curves redrawn after each epoch, the per-epoch table, the version. */

import "./ml.css";
import type { Api } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { isFinished, type Job } from "../jobs";
import { trainingCharts, type HistoryEntry } from "./charts";
import { GROUND_TRUTH, canRunJobs, errorText, facts, frame, link, notice, projectName, section, type TrainingRun } from "./common";
import { formatValue, formatWhen, metricLabel } from "./format";
import { JobProgress } from "./progress";

const HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss"];
const HISTORY_TAIL = ["lr", "seconds"];

export class RunView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;
  private readonly progress = new JobProgress("Training progress");
  private readonly info = h("div");
  private readonly charts = h("div", { className: "charts" });
  private readonly history = h("div");
  private readonly actions = h("div", { className: "job-area" });
  private run: TrainingRun | null = null;

  constructor(
    private readonly api: Api,
    private readonly config: SenolabConfig,
    private readonly runId: number,
  ) {
    const { page, main } = frame(config, `Training run #${runId}`);
    this.el = page;
    this.main = main;
  }

  async start(): Promise<void> {
    this.main.append(
      section("Run", this.info, this.actions),
      section("Curves", this.charts),
      section("Epochs", this.history),
    );
    await this.load();
    const job = this.run?.job;
    if (job && !isFinished(job)) {
      let lastMessage = job.message;
      const done = await this.progress.track(this.api, job, (current: Job) => {
        if (current.message !== lastMessage) void this.load(false); // a new epoch: new points
        lastMessage = current.message;
      });
      this.progress.show(done);
      await this.load(false);
    }
  }

  private async load(withProgress = true): Promise<void> {
    try {
      this.run = await this.api.get<TrainingRun>(`/api/training-runs/${this.runId}/`);
    } catch (err) {
      this.main.replaceChildren(notice(`This run could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    const run = this.run;
    if (withProgress && run.job) this.progress.show(run.job);
    const overrides = Object.entries(run.params.overrides ?? {});
    const gt = GROUND_TRUTH.find(([v]) => v === (run.params.ground_truth ?? "any"))?.[1] ?? run.params.ground_truth ?? "";
    this.info.replaceChildren(
      facts([
        ["Recipe", run.recipe + (overrides.length ? ` (${overrides.map(([k, v]) => `${k.replace(/_/g, " ")} ${formatValue(k, v)}`).join(", ")})` : "")],
        ["Project", projectName(this.config, run.project)],
        ["Snapshot", run.snapshot_hash ? h("code", {}, run.snapshot_hash.slice(0, 12)) : "not built yet"],
        ["Ground truth", gt],
        ["Device", run.device || "—"],
        ["Started by", run.created_by ?? "command line (no user)"],
        ["Started", formatWhen(run.created_at)],
        ["Finished", formatWhen(run.finished_at)],
        ["Model version", run.model_version ? link(`/ml/versions/${run.model_version}/`, `v${run.model_version}`) : "—"],
      ]),
      this.progress.el,
    );
    if (run.job && !isFinished(run.job) && canRunJobs(this.config, run.project) && !this.actions.childElementCount) {
      const jobId = run.job.id;
      const cancel = h("button", { className: "danger" }, "Cancel the training");
      cancel.addEventListener("click", () => {
        cancel.disabled = true;
        this.api.post(`/api/jobs/${jobId}/cancel/`).catch((err) => this.actions.append(notice(errorText(err), "error")));
      });
      this.actions.append(cancel);
    }
    if (run.job && isFinished(run.job)) this.actions.replaceChildren();
    const history = (run.history ?? []) as HistoryEntry[];
    const charts = trainingCharts(history, metricLabel);
    this.charts.replaceChildren(...(charts.length ? charts : [h("p", { className: "muted" }, "No epoch has finished yet.")]));
    this.history.replaceChildren(historyTable(history));
  }
}

function historyTable(history: HistoryEntry[]): HTMLElement {
  if (!history.length) return h("p", { className: "muted" }, "—");
  const keys = new Set(history.flatMap((e) => Object.keys(e)));
  const scores = [...keys].filter((k) => k.startsWith("val_") && k !== "val_loss").sort();
  const columns = [...HISTORY_COLUMNS, ...scores, ...HISTORY_TAIL].filter((k) => keys.has(k));
  return h(
    "table",
    { className: "ml-table epochs" },
    h("thead", {}, h("tr", {}, ...columns.map((k) => h("th", {}, metricLabel(k))))),
    h("tbody", {}, ...history.map((e) => h("tr", {}, ...columns.map((k) => h("td", { className: "num" }, formatValue(k, e[k])))))),
  );
}
