/** /projects/{id}/agreement/: how far the project's readers agree (GET /api/agreement/):
 * quadratic-weighted kappa matrices for BI-RADS and density drawn as heatmaps, Krippendorff's
 * alpha, lesion F1 and Dice per pair, each reader's sensitivity and specificity against the
 * reference beside the active model's ROC curve, and the CSV download of the same figures; then
 * the automation-bias figures per reader and model version (GET /api/automation-bias/). */

import "../ml/ml.css";
import "./readers.css";
import type { Api, Schemas } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { COLOURS, lineChart, xyPoints, type Series } from "../ml/charts";
import { errorText, frame, notice, section } from "../ml/common";

export type AgreementReport = Schemas["Agreement"];
export type AutomationBiasRow = Schemas["AutomationBiasRow"];

/** "3 (2 towards, 1 away)": reads changed after the reveal, by direction (pure). */
export function changedAfterReveal(row: AutomationBiasRow): string {
  const changed = row.changed_towards_model + row.changed_away_from_model;
  return `${changed} (${row.changed_towards_model} towards, ${row.changed_away_from_model} away)`;
}

function fixed(value: number | null | undefined, digits = 2): string {
  return value === null || value === undefined ? "—" : value.toFixed(digits);
}

/** The symmetric reader x reader matrix of a scale's pairwise kappas (pure). */
export function kappaMatrix(readers: string[], pairs: Schemas["KappaPair"][]): (number | null)[][] {
  const at = new Map(pairs.map((p) => [`${p.a}\u0000${p.b}`, p.kappa ?? null]));
  return readers.map((a) => readers.map((b) => (a === b ? 1 : (at.get(`${a}\u0000${b}`) ?? at.get(`${b}\u0000${a}`) ?? null))));
}

/** A cell colour for kappa in [-1, 1]: red (disagreement) through white to green (pure). */
export function heat(kappa: number | null): string {
  if (kappa === null) return "transparent";
  const k = Math.max(-1, Math.min(1, kappa));
  return k >= 0 ? `rgba(95, 211, 141, ${(0.15 + 0.7 * k).toFixed(2)})` : `rgba(255, 107, 107, ${(0.15 + 0.7 * -k).toFixed(2)})`;
}

function matrixTable(name: string, readers: string[], scale: Schemas["ScaleAgreement"]): HTMLElement {
  const matrix = kappaMatrix(readers, scale.pairs);
  return h(
    "div",
    {},
    h(
      "table",
      { className: "ml-table kappa-matrix", dataset: { testid: `kappa-${name}` } },
      h("thead", {}, h("tr", {}, h("th", {}, "κ"), ...readers.map((r) => h("th", {}, r)))),
      h(
        "tbody",
        {},
        ...readers.map((a, i) =>
          h("tr", {}, h("th", {}, a), ...matrix[i]!.map((k) => h("td", { className: "num", style: `background:${heat(k)}`, title: k === null ? "undefined: too few shared exams or one category" : "" }, fixed(k)))),
        ),
      ),
    ),
    h("p", { className: "muted" }, `Krippendorff's α (ordinal, all readers): ${fixed(scale.alpha)}`),
  );
}

export class AgreementView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;

  constructor(
    private readonly api: Api,
    config: SenolabConfig,
    private readonly project: number,
  ) {
    const csv = h("a", { href: `/api/agreement/?project=${project}&download=csv`, download: "", dataset: { testid: "agreement-csv" } }, "Download CSV");
    const { page, main } = frame(config, "Reader agreement", h("a", { href: `/?project=${project}` }, "Worklist"), h("a", { href: `/projects/${project}/adjudication/` }, "Adjudication"), csv);
    this.el = page;
    this.main = main;
  }

  async start(): Promise<void> {
    let report: AgreementReport;
    try {
      report = await this.api.GET("/api/agreement/", { query: { project: this.project } });
    } catch (err) {
      this.main.replaceChildren(notice(`The agreement could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    this.render(report);
    await this.addModel(report);
    await this.addAutomationBias();
  }

  /** Proposals accepted, edited, rejected and reads changed after the reveal, per reader and
   * model version; nothing is added when no proposal was reviewed and no blind read revealed. */
  private async addAutomationBias(): Promise<void> {
    let rows: AutomationBiasRow[];
    try {
      rows = (await this.api.GET("/api/automation-bias/", { query: { project: this.project } })).rows;
    } catch (err) {
      this.main.append(notice(`The automation-bias figures could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    if (!rows.length) return;
    const csv = h("a", { href: `/api/automation-bias/?project=${this.project}&download=csv`, download: "" }, "Download CSV");
    const body = rows.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, r.reader),
        h("td", {}, `v${r.model_version} ${r.recipe}`),
        h("td", { className: "num" }, `${r.accepted} / ${r.edited} / ${r.rejected}`),
        h("td", { className: "num" }, `${fixed(r.median_edit_iou)} / ${fixed(r.median_edit_dice)}`),
        h("td", {}, Object.entries(r.rejection_reasons).map(([k, v]) => `${k} (${v})`).join(", ") || "—"),
        h("td", { className: "num" }, String(r.reads)),
        h("td", { className: "num" }, changedAfterReveal(r)),
      ),
    );
    this.main.append(
      section(
        "Automation bias: readers and the model's proposals",
        h("table", { className: "ml-table", dataset: { testid: "automation-bias" } }, h("thead", {}, h("tr", {}, ...["Reader", "Model version", "Accepted / edited / rejected", "Edit IoU / Dice (median)", "Rejection reasons", "Blind reads", "Changed after the reveal"].map((t) => h("th", {}, t)))), h("tbody", {}, ...body)),
        h("p", { className: "muted" }, "Towards the model: BI-RADS raised where the model called the exam malignant, or lowered where it did not. ", csv),
      ),
    );
  }

  private render(report: AgreementReport): void {
    const readers = report.readers;
    if (readers.length < 2) {
      this.main.replaceChildren(notice(`${readers.length} reader(s) have finished reads in this project: agreement needs two.`));
      return;
    }
    const lesionRows = report.lesions.map((p) =>
      h("tr", {}, h("td", {}, p.a), h("td", {}, p.b), h("td", { className: "num" }, fixed(p.lesion_f1)), h("td", { className: "num" }, String(p.lesions)), h("td", { className: "num" }, fixed(p.dice)), h("td", { className: "num" }, String(p.images))),
    );
    const readerRows = report.readers_vs_reference.map((r) =>
      h("tr", {}, h("td", {}, r.reader), h("td", { className: "num" }, String(r.exams)), h("td", { className: "num" }, fixed(r.sensitivity)), h("td", { className: "num" }, fixed(r.specificity)), h("td", { className: "num" }, `${r.tp} / ${r.fp} / ${r.tn} / ${r.fn}`)),
    );
    const blindRows = report.blind_reads.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, r.reader),
        h("td", { className: "num" }, String(r.reads)),
        h("td", { className: "num" }, `${r.birads_changed_up} / ${r.birads_changed_down}`),
        h("td", { className: "num" }, `${fixed(r.first_sensitivity)} → ${fixed(r.final_sensitivity)}`),
        h("td", { className: "num" }, `${fixed(r.first_specificity)} → ${fixed(r.final_specificity)}`),
        h("td", { className: "num" }, r.median_seconds === null || r.median_seconds === undefined ? "—" : `${Math.round(r.median_seconds)} s`),
      ),
    );
    this.main.replaceChildren(
      h("p", { className: "muted" }, `${readers.length} readers, ${report.exams} exams with finished reads. Quadratic-weighted Cohen's κ between each pair on the exams both read.`),
      h("div", { className: "ml-columns" }, section("BI-RADS", matrixTable("birads", readers, report.birads)), section("Density", matrixTable("density", readers, report.density))),
      section(
        `Lesions (matched at IoU ≥ ${report.iou_threshold})`,
        h("table", { className: "ml-table", dataset: { testid: "lesion-agreement" } }, h("thead", {}, h("tr", {}, ...["Reader A", "Reader B", "Lesion F1", "Lesions", "Mean Dice", "Images"].map((t) => h("th", {}, t)))), h("tbody", {}, ...lesionRows)),
      ),
      (this.readersSection = section(
        "Readers against the reference",
        readerRows.length
          ? h("table", { className: "ml-table", dataset: { testid: "reader-accuracy" } }, h("thead", {}, h("tr", {}, ...["Reader", "Exams", "Sensitivity", "Specificity", "TP / FP / TN / FN"].map((t) => h("th", {}, t)))), h("tbody", {}, ...readerRows))
          : h("p", { className: "muted" }, "No exam read has a reference pathology."),
      )),
      blindRows.length
        ? section(
            "Blind first reads: before and after the proposals",
            h("table", { className: "ml-table", dataset: { testid: "blind-reads" } }, h("thead", {}, h("tr", {}, ...["Reader", "Reads", "BI-RADS changed up / down", "Sensitivity first → final", "Specificity first → final", "Median time per exam"].map((t) => h("th", {}, t)))), h("tbody", {}, ...blindRows)),
          )
        : "",
    );
  }

  private readersSection: HTMLElement | null = null;

  /** The active classification model's ROC curve with each reader as a point on it. */
  private async addModel(report: AgreementReport): Promise<void> {
    if (!this.readersSection) return;
    let versions: { id: number; label: string; metrics: Record<string, unknown> }[] = [];
    try {
      versions = await this.api.all("/api/model-versions/", { project: this.project, status: "active" });
    } catch {
      return;
    }
    const model = versions.find((v) => xyPoints(v.metrics?.roc, "fpr", "tpr").length);
    const readerSeries: Series[] = report.readers_vs_reference
      .filter((r) => r.sensitivity !== null && r.specificity !== null)
      .map((r, i) => ({ name: r.reader, points: [[1 - (r.specificity as number), r.sensitivity as number]], dots: true, colour: COLOURS[(i + 1) % COLOURS.length] }));
    if (!model && !readerSeries.length) return;
    const chart = lineChart({
      title: model ? `Readers beside model v${model.id} (${model.label})` : "Readers",
      xLabel: "False positive rate (1 − specificity)",
      yLabel: "Sensitivity",
      series: [...(model ? [{ name: `Model v${model.id}`, points: xyPoints(model.metrics.roc, "fpr", "tpr") }] : []), ...readerSeries],
      x: [0, 1],
      y: [0, 1],
      diagonal: true,
    });
    if (chart) this.readersSection.append(chart);
  }
}
