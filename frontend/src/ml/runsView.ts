/** /ml/runs/: start a training (recipe, snapshot filter, epochs), the training runs with live
 * progress, and the model versions with their headline metric. */

import "./ml.css";
import type { Api } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { isFinished, pollJob } from "../jobs";
import {
  GROUND_TRUTH,
  canRunJobs,
  errorText,
  frame,
  link,
  loadRecipes,
  notice,
  projectName,
  section,
  type ModelVersion,
  type Recipe,
  type TrainingRun,
} from "./common";
import { comparisonText, formatAuc, formatNumber, formatWhen, statusText } from "./format";
import { JobProgress } from "./progress";

/** A retraining run as /api/retraining-runs/ gives it (the fields this page shows). */
interface RetrainingRun {
  id: number;
  project: number;
  trigger: string;
  metric: string;
  margin: number;
  decision: string;
  reason: string;
  challenger: number | null;
  champion: number | null;
  comparison: { overall?: unknown };
  lineage: { snapshot: { content_hash: string; cases: number } | null; proposals: number; reader_decisions: Record<string, number> };
  created_at: string;
}

export class RunsView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;
  private readonly runsBody = h("tbody");
  private readonly versionsBody = h("tbody");
  private readonly retrainingBody = h("tbody");
  private readonly retrainingSection = section(
    "Scheduled retraining decisions",
    h(
      "table",
      { className: "ml-table", id: "retraining" },
      h("thead", {}, h("tr", {}, ...["Run", "Trigger", "Decision", "Difference (95% CI)", "Challenger", "Champion", "Why", "Lineage"].map((t) => h("th", {}, t)))),
      this.retrainingBody,
    ),
  );
  private readonly polling = new Set<string>();

  constructor(
    private readonly api: Api,
    private readonly config: SenolabConfig,
  ) {
    const picker = h("select", { name: "project", "aria-label": "Project" });
    picker.append(h("option", { value: "" }, "All my projects"));
    for (const p of config.projects) picker.append(h("option", { value: String(p.id) }, p.name));
    picker.value = config.projectId ? String(config.projectId) : "";
    picker.addEventListener("change", () => {
      location.search = picker.value ? `?project=${picker.value}` : "";
    });
    const rounds = config.projectId ? [link(`/ml/projects/${config.projectId}/rounds/`, "Active learning")] : [];
    const { page, main } = frame(config, "Training runs and models", picker, ...rounds);
    this.el = page;
    this.main = main;
  }

  async start(): Promise<void> {
    const managed = this.config.projects.filter((p) => canRunJobs(this.config, p.id) && (!this.config.projectId || p.id === this.config.projectId));
    if (managed.length) {
      try {
        this.main.append(this.trainingForm(await loadRecipes(this.api), managed.map((p) => p.id)));
      } catch (err) {
        this.main.append(notice(`The recipes could not be loaded: ${errorText(err)}`, "error"));
      }
    }
    this.main.append(
      section(
        "Training runs",
        h(
          "table",
          { className: "ml-table", id: "runs" },
          h("thead", {}, h("tr", {}, ...["Run", "Project", "Recipe", "Progress", "Started by", "Started", "Model version"].map((t) => h("th", {}, t)))),
          this.runsBody,
        ),
      ),
      section(
        "Model versions",
        h(
          "table",
          { className: "ml-table", id: "versions" },
          h("thead", {}, h("tr", {}, ...["Version", "Project", "Recipe", "Modality", "Status", "AUC (95% CI)", "Dice", "Trained by", "Created"].map((t) => h("th", {}, t)))),
          this.versionsBody,
        ),
      ),
    );
    await this.refresh();
  }

  private query(): Record<string, number | undefined> {
    return { project: this.config.projectId ?? undefined, page_size: 100 };
  }

  async refresh(): Promise<void> {
    const [runs, versions] = await Promise.all([
      this.api.get<{ results: TrainingRun[] } | TrainingRun[]>("/api/training-runs/", this.query()),
      this.api.get<{ results: ModelVersion[] } | ModelVersion[]>("/api/model-versions/", this.query()),
    ]);
    this.showRuns(Array.isArray(runs) ? runs : runs.results);
    this.showVersions(Array.isArray(versions) ? versions : versions.results);
    const retraining = await this.api
      .get<{ results: RetrainingRun[] } | RetrainingRun[]>("/api/retraining-runs/", this.query())
      .catch(() => []);
    this.showRetraining(Array.isArray(retraining) ? retraining : retraining.results);
  }

  /** The section appears once a project has retraining runs (policies are set in the API or
   * the Django admin). */
  private showRetraining(runs: RetrainingRun[]): void {
    this.retrainingBody.replaceChildren();
    if (!runs.length) {
      this.retrainingSection.remove();
      return;
    }
    if (!this.retrainingSection.isConnected) this.main.append(this.retrainingSection);
    const version = (id: number | null) => (id ? link(`/ml/versions/${id}/`, `v${id}`) : "—");
    for (const run of runs) {
      const d = run.lineage.reader_decisions;
      const snapshot = run.lineage.snapshot;
      this.retrainingBody.append(
        h(
          "tr",
          { dataset: { retraining: run.id } },
          h("td", {}, `#${run.id} ${formatWhen(run.created_at)}`),
          h("td", {}, run.trigger),
          h("td", {}, h("span", { className: `status-pill ${run.decision}` }, run.decision)),
          h("td", { className: "num", title: `${run.metric}, margin ${run.margin}` }, comparisonText(run.comparison.overall)),
          h("td", {}, version(run.challenger)),
          h("td", {}, version(run.champion)),
          h("td", {}, run.reason || "—"),
          h(
            "td",
            {},
            snapshot ? `snapshot ${snapshot.content_hash.slice(0, 8)} (${snapshot.cases} cases) → ` : "",
            `${run.lineage.proposals} proposals: ${d.accepted ?? 0} accepted, ${d.edited ?? 0} edited, ${d.rejected ?? 0} rejected`,
          ),
        ),
      );
    }
  }

  private showRuns(runs: TrainingRun[]): void {
    this.runsBody.replaceChildren();
    if (!runs.length) {
      const hint = this.config.projects.some((p) => canRunJobs(this.config, p.id)) ? "Start one above." : "Reviewers and owners start them.";
      this.runsBody.append(h("tr", {}, h("td", { colSpan: 7, className: "muted" }, `No training runs yet. ${hint}`)));
    }
    for (const run of runs) {
      const progress = new JobProgress(`Run ${run.id}`);
      if (run.job) progress.show(run.job);
      else progress.show({ status: run.status as never, progress: 0, message: "", error: "" });
      this.runsBody.append(
        h(
          "tr",
          { dataset: { run: run.id } },
          h("td", {}, link(`/ml/runs/${run.id}/`, `#${run.id}`)),
          h("td", {}, projectName(this.config, run.project)),
          h("td", {}, run.recipe),
          h("td", { className: "progress-cell" }, progress.el),
          h("td", {}, run.created_by ?? "command line"),
          h("td", {}, formatWhen(run.created_at)),
          h("td", {}, run.model_version ? link(`/ml/versions/${run.model_version}/`, `v${run.model_version}`) : "—"),
        ),
      );
      if (run.job && !isFinished(run.job) && !this.polling.has(run.job.id)) {
        this.polling.add(run.job.id);
        void pollJob(this.api, run.job, { onUpdate: (job) => progress.show(job) })
          .then(() => this.refresh())
          .catch(() => undefined)
          .finally(() => run.job && this.polling.delete(run.job.id));
      }
    }
  }

  private showVersions(versions: ModelVersion[]): void {
    this.versionsBody.replaceChildren();
    if (!versions.length) this.versionsBody.append(h("tr", {}, h("td", { colSpan: 9, className: "muted" }, "No model versions yet.")));
    for (const v of versions) {
      const dice = v.metrics.dice;
      this.versionsBody.append(
        h(
          "tr",
          { dataset: { version: v.id } },
          h("td", {}, link(`/ml/versions/${v.id}/`, `v${v.id}`)),
          h("td", {}, projectName(this.config, v.project)),
          h("td", {}, v.recipe),
          h("td", {}, v.modality || "any"),
          h("td", {}, h("span", { className: `status-pill ${v.status}` }, v.status)),
          h("td", { className: "num" }, formatAuc(v.metrics.auc, v.metrics.auc_ci)),
          h("td", { className: "num" }, typeof dice === "number" ? formatNumber("dice", dice) : "—"),
          h("td", {}, v.trained_by ?? "command line"),
          h("td", {}, formatWhen(v.created_at)),
        ),
      );
    }
  }

  /** The form that starts a training, its Job's progress bar and where it ended. */
  private trainingForm(recipes: Recipe[], projects: number[]): HTMLElement {
    const project = h("select", { name: "project", "aria-label": "Project to train on" });
    for (const id of projects) project.append(h("option", { value: String(id) }, projectName(this.config, id)));
    const recipe = h("select", { name: "recipe", "aria-label": "Recipe" });
    for (const r of recipes) recipe.append(h("option", { value: r.name }, `${r.name} (${r.modality}, ${r.task})`));
    const groundTruth = h("select", { name: "ground_truth", "aria-label": "Snapshot filter" });
    for (const [value, text] of GROUND_TRUTH) groundTruth.append(h("option", { value }, text));
    const epochs = h("input", { type: "number", name: "epochs", min: "1", max: "1000", "aria-label": "Epochs" });
    const description = h("p", { className: "muted recipe-description" });
    const chosen = () => recipes.find((r) => r.name === recipe.value);
    const describe = () => {
      const r = chosen();
      description.textContent = r ? `${r.description}. ${r.network}, classes ${r.classes.join(", ") || "—"}, ${r.epochs} epochs by default.` : "";
      epochs.value = r ? String(r.epochs) : "";
    };
    recipe.addEventListener("change", describe);
    describe();
    const button = h("button", { type: "submit", className: "primary" }, "Start training");
    const status = h("div", { className: "job-area" });
    const form = h(
      "form",
      { className: "ml-form", "aria-label": "Start a training" },
      h("label", {}, h("span", {}, "Project"), project),
      h("label", {}, h("span", {}, "Recipe"), recipe),
      h("label", {}, h("span", {}, "Snapshot"), groundTruth),
      h("label", {}, h("span", {}, "Epochs"), epochs),
      button,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      button.disabled = true;
      void this.startTraining(
        { project: Number(project.value), recipe: recipe.value, ground_truth: groundTruth.value, epochs: Number(epochs.value) || undefined },
        status,
      ).finally(() => (button.disabled = false));
    });
    return section("Start a training", form, description, status);
  }

  private async startTraining(body: Record<string, unknown>, area: HTMLElement): Promise<void> {
    const progress = new JobProgress("Training progress");
    const result = h("p", { className: "job-result", dataset: { testid: "job-result" } });
    area.replaceChildren(progress.el, result);
    progress.starting("Starting the training…");
    try {
      const run = await this.api.post<TrainingRun>("/api/training-runs/", body);
      result.replaceChildren("Training run ", link(`/ml/runs/${run.id}/`, `#${run.id}`), " started.");
      void this.refresh();
      const job = run.job ? await progress.track(this.api, run.job) : null;
      const done = await this.api.get<TrainingRun>(`/api/training-runs/${run.id}/`);
      if (done.model_version) {
        result.replaceChildren(
          "Training run ",
          link(`/ml/runs/${run.id}/`, `#${run.id}`),
          " finished: ",
          link(`/ml/versions/${done.model_version}/`, `model version v${done.model_version}`),
          " registered.",
        );
      } else {
        result.replaceChildren(
          "Training run ",
          link(`/ml/runs/${run.id}/`, `#${run.id}`),
          ` ended ${statusText(job?.status ?? done.status)}${job?.error ? `: ${job.error}` : "."}`,
        );
        result.classList.add("error");
      }
      await this.refresh();
    } catch (err) {
      progress.show({ status: "failed", progress: 0, message: "", error: errorText(err) });
      result.textContent = `The training could not be started: ${errorText(err)}`;
      result.classList.add("error");
    }
  }
}
