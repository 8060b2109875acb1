/** The project page's export panel (reviewers and owners): pick formats and filters (modality,
 * label status, reviewed only, site, date range, readers, the ground-truth policy and, for
 * "one named reader", which reader), start a data set export (POST /api/dataset-exports/),
 * follow its Job with the one progress bar, then a download link with the zip's sha256 and
 * counts; below, the project's earlier exports. */

import type { Api, Schemas } from "../api";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { JobProgress } from "../ml/progress";

type Project = Schemas["Project"];
type DatasetExport = Schemas["DatasetExport"];

export const EXPORT_FORMATS: [string, string][] = [
  ["coco", "COCO JSON (boxes, polygons, RLE masks)"],
  ["csv", "CSV of exam, breast and image labels"],
  ["masks_png", "Masks as PNG, with the label map"],
  ["masks_nifti", "Masks as NIfTI, with the label map"],
  ["monai", "MONAI datalist (with PNG images and NIfTI masks)"],
  ["dicom_seg", "DICOM SEG of the masks"],
  ["dicom_sr", "DICOM SR (TID 1500) of the findings"],
  ["images_png", "The images as PNG"],
  ["images_dicom", "The images as de-identified DICOM"],
];

function downloadUrl(exp: Pick<DatasetExport, "id">): string {
  return `/api/dataset-exports/${exp.id}/download/`;
}

/** "3 exams, 5 images, 7 findings" from an export's counts. */
export function countsText(counts: Record<string, unknown> | null | undefined): string {
  const c = counts ?? {};
  const part = (key: string, one: string, many: string) => {
    const n = Number(c[key] ?? 0);
    return `${n} ${n === 1 ? one : many}`;
  };
  return [part("exams", "exam", "exams"), part("images", "image", "images"), part("findings", "finding", "findings")].join(", ");
}

export const GROUND_TRUTH: [Schemas["GroundTruthEnum"], string][] = [
  ["any", "reference where present, else expert annotations"],
  ["reference", "imported reference only"],
  ["human", "expert annotations only"],
  ["consensus", "adjudicated consensus"],
  ["majority", "majority of the readers"],
  ["reader", "one named reader"],
];

export interface ExportChoices {
  formats: string[];
  modality: string;
  labelStatus: string;
  groundTruth: Schemas["GroundTruthEnum"];
  groundTruthReader: string;
  readers: string[];
  reviewedOnly: boolean;
  site: string;
  dateFrom: string;
  dateTo: string;
}

/** The POST body for what the form holds: empty filters are left out; a named reader only
 * with the "one named reader" policy. Throws an Error a person understands when the form
 * cannot make a valid export. */
export function exportBody(projectId: number, c: ExportChoices): Schemas["DatasetExportCreateRequest"] {
  if (!c.formats.length) throw new Error("Choose at least one format.");
  if (c.groundTruth === "reader" && !c.groundTruthReader) throw new Error("Choose the reader whose reads are the ground truth.");
  if (c.dateFrom && c.dateTo && c.dateFrom > c.dateTo) throw new Error("The date range ends before it starts.");
  return {
    project: projectId,
    formats: c.formats,
    ...(c.modality ? { modality: c.modality } : {}),
    label_status: c.labelStatus as "any",
    ground_truth: c.groundTruth,
    ...(c.groundTruth === "reader" ? { ground_truth_reader: c.groundTruthReader } : {}),
    ...(c.readers.length ? { readers: c.readers } : {}),
    reviewed_only: c.reviewedOnly,
    ...(c.site.trim() ? { site: c.site.trim() } : {}),
    ...(c.dateFrom ? { date_from: c.dateFrom } : {}),
    ...(c.dateTo ? { date_to: c.dateTo } : {}),
  };
}

export class ExportPanel {
  readonly el: HTMLElement;
  private readonly progress = new JobProgress("Export progress");
  private readonly result = h("div", { className: "export-result", dataset: { testid: "export-result" } });
  private readonly listEl = h("ul", { className: "export-list", dataset: { testid: "export-list" } });

  constructor(
    private readonly api: Api,
    private readonly project: Project,
    private readonly members: string[] = [],
  ) {
    this.progress.el.hidden = true;
    this.el = h("section", { className: "export-panel", dataset: { testid: "export-panel" } }, h("h3", {}, "Export a data set"), this.form(), this.progress.el, this.result, h("h4", {}, "Exports"), this.listEl);
  }

  private form(): HTMLFormElement {
    const boxes = EXPORT_FORMATS.map(([value, title]) =>
      h("label", { className: "check" }, h("input", { type: "checkbox", name: "formats", value, checked: value === "coco" || value === "csv" }), ` ${title}`),
    );
    const modality = h("select", { name: "modality" }, h("option", { value: "" }, "any"), ...["MG", "US", "MR", "CT", "OT"].map((m) => h("option", { value: m }, m)));
    const labelStatus = h("select", { name: "label_status" }, h("option", { value: "any" }, "any"), h("option", { value: "labelled" }, "labelled"), h("option", { value: "unlabelled" }, "unlabelled"));
    const groundTruth = h("select", { name: "ground_truth" }, ...GROUND_TRUTH.map(([value, title]) => h("option", { value }, title)));
    const reader = h("select", { name: "ground_truth_reader" }, h("option", { value: "" }, "choose a reader"), ...this.members.map((m) => h("option", { value: m }, m)));
    const readerField = h("label", { className: "field", hidden: true }, h("span", {}, "Ground-truth reader"), reader);
    groundTruth.addEventListener("change", () => (readerField.hidden = groundTruth.value !== "reader"));
    const readerBoxes = this.members.map((m) => h("label", { className: "check" }, h("input", { type: "checkbox", name: "readers", value: m }), ` ${m}`));
    const site = h("input", { name: "site", placeholder: "any site", autocomplete: "off" });
    const dateFrom = h("input", { type: "date", name: "date_from" });
    const dateTo = h("input", { type: "date", name: "date_to" });
    const reviewed = h("input", { type: "checkbox", name: "reviewed_only" });
    const form = h(
      "form",
      { className: "export-form", "aria-label": "Export a data set" },
      h("fieldset", {}, h("legend", {}, "Formats"), ...boxes),
      h("label", { className: "field" }, h("span", {}, "Modality"), modality),
      h("label", { className: "field" }, h("span", {}, "Label status"), labelStatus),
      h("label", { className: "field" }, h("span", {}, "Ground truth"), groundTruth),
      readerField,
      h("label", { className: "field" }, h("span", {}, "Site"), site),
      h("label", { className: "field" }, h("span", {}, "Exams from"), dateFrom),
      h("label", { className: "field" }, h("span", {}, "Exams to"), dateTo),
      readerBoxes.length ? h("fieldset", { className: "export-readers" }, h("legend", {}, "Only exams read by (none: all exams)"), ...readerBoxes) : null,
      h("label", { className: "check" }, reviewed, " Reviewed exams only"),
      h("button", { type: "submit", className: "primary" }, "Start export"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const checked = (labels: HTMLElement[]) => labels.map((b) => b.querySelector("input")!).filter((i) => i.checked).map((i) => i.value);
      let body: Schemas["DatasetExportCreateRequest"];
      try {
        body = exportBody(this.project.id, {
          formats: checked(boxes),
          modality: modality.value,
          labelStatus: labelStatus.value,
          groundTruth: groundTruth.value as Schemas["GroundTruthEnum"],
          groundTruthReader: reader.value,
          readers: checked(readerBoxes),
          reviewedOnly: reviewed.checked,
          site: site.value,
          dateFrom: dateFrom.value,
          dateTo: dateTo.value,
        });
      } catch (err) {
        this.result.replaceChildren(h("span", { className: "error", role: "alert" }, err instanceof Error ? err.message : String(err)));
        return;
      }
      void this.start(body);
    });
    return form;
  }

  private async start(body: Schemas["DatasetExportCreateRequest"]): Promise<void> {
    this.result.replaceChildren();
    this.progress.el.hidden = false;
    this.progress.starting("Starting the export…");
    try {
      const created = await this.api.POST("/api/dataset-exports/", { body });
      const job = await this.progress.track(this.api, created.job as unknown as Job);
      const done = await this.api.GET("/api/dataset-exports/{id}/", { path: { id: created.id } });
      if (job.status === "succeeded") {
        this.result.replaceChildren(
          h("a", { href: downloadUrl(done), download: "", dataset: { testid: "export-download" } }, `Download export ${done.id} (zip)`),
          h("span", { className: "muted" }, ` ${countsText(done.counts as Record<string, unknown>)}; sha256 ${done.archive_sha256}`),
        );
      } else {
        this.result.replaceChildren(h("span", { className: "error" }, job.error || job.message));
      }
    } catch (err) {
      this.progress.el.hidden = true;
      this.result.replaceChildren(h("span", { className: "error", role: "alert" }, err instanceof Error ? err.message : String(err)));
    }
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const exports = await this.api.list("/api/dataset-exports/", { query: { project: this.project.id } });
    this.listEl.replaceChildren(
      ...exports.map((exp) =>
        h(
          "li",
          { dataset: { testid: "export-row", status: exp.status } },
          `Export ${exp.id}: ${((exp.formats as string[] | undefined) ?? []).join(", ")}, ${exp.status}`,
          exp.archive_sha256 ? h("span", {}, " ", h("a", { href: downloadUrl(exp) }, "download"), h("span", { className: "muted" }, ` ${countsText(exp.counts as Record<string, unknown>)}`)) : null,
        ),
      ),
    );
    if (!exports.length) this.listEl.append(h("li", { className: "muted" }, "No export yet."));
  }
}
