/** /ml/versions/{id}/: one model version: what it is and who trained it, its test metrics and
 * charts; for reviewers and owners, activate/retire, an evaluation and a prediction, each with its
 * Job's progress and ending on its result. */

import "./ml.css";
import type { Api } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { calibrationChart, confusionTable, rocChart } from "./charts";
import { canRunJobs, errorText, facts, frame, link, notice, projectName, section, type ModelVersion } from "./common";
import { formatAuc, formatNumber, formatWhen, groupRows, metricRows, statusText } from "./format";
import { JobProgress } from "./progress";

export function metricsTable(metrics: Record<string, unknown> | null | undefined): HTMLElement {
  const rows = metricRows(metrics);
  if (!rows.length) return h("p", { className: "muted" }, "No metrics.");
  return h("table", { className: "ml-table metrics" }, h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", { className: "num" }, v)))));
}

/** Per site and scanner manufacturer, each figure with its interval; nothing when not stored. */
export function groupsTable(groups: unknown): HTMLElement | null {
  const { header, rows } = groupRows(groups);
  if (!rows.length) return null;
  return h(
    "table",
    { className: "ml-table groups" },
    h("thead", {}, h("tr", {}, ...header.map((text) => h("th", {}, text)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...row.map((text, i) => (i < 2 ? h("th", {}, text) : h("td", { className: "num" }, text)))))),
  );
}

export class VersionView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;
  private version: ModelVersion | null = null;

  constructor(
    private readonly api: Api,
    private readonly config: SenolabConfig,
    private readonly versionId: number,
  ) {
    const { page, main } = frame(config, `Model version v${versionId}`);
    this.el = page;
    this.main = main;
  }

  async start(): Promise<void> {
    try {
      this.version = await this.api.get<ModelVersion>(`/api/model-versions/${this.versionId}/`);
    } catch (err) {
      this.main.replaceChildren(notice(`This model version could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    this.render();
  }

  private render(): void {
    const v = this.version!;
    const manage = canRunJobs(this.config, v.project);
    const classes = Array.isArray(v.recipe_config?.classes) ? (v.recipe_config.classes as string[]) : [];
    const charts = [
      rocChart(v.curves?.roc, formatAuc(v.metrics.auc, v.metrics.auc_ci)),
      calibrationChart(v.curves?.calibration),
      confusionTable(v.curves?.confusion, classes),
    ].filter((c): c is HTMLElement => c !== null);
    const parts = [
      section(
        "Model",
        facts([
          ["Status", h("span", { className: `status-pill ${v.status}`, dataset: { testid: "version-status" } }, v.status)],
          ["Task", `${v.task}${v.label ? ` of ${v.label}` : ""}${classes.length ? ` (${classes.join(", ")})` : ""}`],
          ["Modality", v.modality || "any"],
          ["Recipe", v.recipe],
          ["Project", projectName(this.config, v.project)],
          ["Trained by", v.trained_by ?? "command line (no user)"],
          ["Created", formatWhen(v.created_at)],
          ["Training run", v.training_run ? link(`/ml/runs/${v.training_run}/`, `#${v.training_run}`) : "—"],
          ["Fine-tuned from", v.parent ? link(`/ml/versions/${v.parent}/`, `v${v.parent}`) : "—"],
          ["Snapshot", h("code", {}, v.snapshot_hash.slice(0, 12) || "—")],
          ["Artifact", h("code", { title: v.artifact_sha256 }, `sha256 ${v.artifact_sha256.slice(0, 16)}…`)],
          ["Temperature", formatNumber("temperature", v.temperature)],
          ["Threshold", v.threshold === null ? "—" : formatNumber("threshold", v.threshold)],
        ], 2),
        manage ? this.statusActions(v) : null,
      ),
      section(
        "Metrics on the test split",
        v.metrics.n === 0 ? notice("The test split of this version's snapshot holds no cases: there are no test metrics. Train on more annotated exams, or evaluate on another split below.") : null,
        metricsTable(v.metrics),
        groupsTable(v.metrics.groups),
      ),
      section("Charts", charts.length ? h("div", { className: "charts" }, ...charts) : h("p", { className: "muted" }, "No curves stored for this version.")),
      manage ? this.evaluateSection(v) : null,
      manage ? this.predictSection(v) : null,
    ];
    this.main.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private statusActions(v: ModelVersion): HTMLElement {
    const message = h("span", { className: "muted" });
    const button = (action: "activate" | "retire", text: string, disabled: boolean) => {
      const b = h("button", { disabled }, text);
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          this.version = { ...this.version!, ...(await this.api.post<ModelVersion>(`/api/model-versions/${v.id}/${action}/`)) };
          this.render();
        } catch (err) {
          message.textContent = errorText(err);
          b.disabled = false;
        }
      });
      return b;
    };
    return h("div", { className: "row-left" }, button("activate", "Activate", v.status === "active"), button("retire", "Retire", v.status === "retired"), message);
  }

  private evaluateSection(v: ModelVersion): HTMLElement {
    const split = h("select", { name: "split", "aria-label": "Split" });
    for (const [value, text] of [["test", "test split"], ["val", "validation split"], ["train", "training split"], ["all", "all cases"]]) {
      split.append(h("option", { value: value! }, text!));
    }
    const area = h("div", { className: "job-area" });
    const button = h("button", { type: "submit" }, "Evaluate");
    const form = h("form", { className: "ml-form", "aria-label": "Evaluate" }, h("label", {}, h("span", {}, "On the"), split), button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      button.disabled = true;
      void this.runJob(area, "Evaluation progress", `/api/model-versions/${v.id}/evaluate/`, { split: split.value }, (job) => {
        const metrics = (job.result?.metrics ?? null) as Record<string, unknown> | null;
        return [h("p", {}, `Evaluated on the ${split.selectedOptions[0]?.textContent ?? split.value}:`), metricsTable(metrics)];
      }).finally(() => (button.disabled = false));
    });
    return section("Evaluate", h("p", { className: "muted" }, "Re-run the metrics on a split of this version's snapshot."), form, area);
  }

  private predictSection(v: ModelVersion): HTMLElement {
    const exams = h("input", { type: "text", name: "exams", placeholder: `all ${v.modality || ""} exams of the project`.replace("  ", " "), "aria-label": "Exam ids" });
    const area = h("div", { className: "job-area" });
    const button = h("button", { type: "submit" }, "Predict");
    const form = h("form", { className: "ml-form", "aria-label": "Predict" }, h("label", {}, h("span", {}, "Exams"), exams), button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      button.disabled = true;
      void (async () => {
        let ids = exams.value.split(/[\s,]+/).filter(Boolean).map(Number);
        if (ids.some((id) => !Number.isInteger(id) || id < 1)) {
          area.replaceChildren(notice("Exam ids are whole numbers separated by commas, e.g. 3, 7, 12.", "error"));
          return;
        }
        if (!ids.length) ids = await this.examsOfModality(v);
        if (!ids.length) {
          area.replaceChildren(notice(`This project has no ${v.modality || ""} exams to predict.`, "error"));
          return;
        }
        await this.runJob(area, "Prediction progress", `/api/model-versions/${v.id}/predict/`, { exams: ids }, (job) => {
          const stored = Number(job.result?.predictions ?? 0);
          const shown = ids.slice(0, 20);
          return [
            h("p", {}, `${stored} predictions stored for ${ids.length} exam${ids.length === 1 ? "" : "s"}. Open an exam and turn on the AI layer to see them:`),
            h("p", { className: "exam-links" }, ...shown.flatMap((id) => [link(`/exams/${id}/`, `exam ${id}`), " "]), ids.length > shown.length ? `and ${ids.length - shown.length} more` : ""),
          ];
        });
      })().finally(() => (button.disabled = false));
    });
    return section("Predict", h("p", { className: "muted" }, "Run this version on exams; the predictions appear in the exam viewer's AI layer, never as annotations."), form, area);
  }

  private async examsOfModality(v: ModelVersion): Promise<number[]> {
    const exams = await this.api.all<{ id: number }>("/api/exams/", { project: v.project, modality: v.modality || undefined, page_size: 500 });
    return exams.map((e) => e.id);
  }

  /** POST a job, show its progress until it ends, then what it produced (or why it failed). */
  private async runJob(area: HTMLElement, label: string, path: string, body: unknown, result: (job: Job) => Node[]): Promise<void> {
    const progress = new JobProgress(label);
    const out = h("div", { className: "job-result", dataset: { testid: "job-result" } });
    area.replaceChildren(progress.el, out);
    progress.starting();
    try {
      const job = await progress.track(this.api, await this.api.post<Job>(path, body));
      if (job.status === "succeeded") out.replaceChildren(...result(job));
      else out.replaceChildren(notice(`The job ended ${statusText(job.status)}${job.error ? `: ${job.error}` : "."}`, "error"));
    } catch (err) {
      progress.show({ status: "failed", progress: 0, message: "", error: errorText(err) });
      out.replaceChildren(notice(errorText(err), "error"));
    }
  }
}
