/** The project page's export panel (reviewers and owners): pick formats and filters, start a
 * data set export (POST /api/dataset-exports/), follow its Job with the one progress bar, then
 * a download link with the zip's sha256 and counts; below, the project's earlier exports. */

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

export class ExportPanel {
  readonly el: HTMLElement;
  private readonly progress = new JobProgress("Export progress");
  private readonly result = h("div", { className: "export-result", dataset: { testid: "export-result" } });
  private readonly listEl = h("ul", { className: "export-list", dataset: { testid: "export-list" } });

  constructor(
    private readonly api: Api,
    private readonly project: Project,
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
    const groundTruth = h(
      "select",
      { name: "ground_truth" },
      h("option", { value: "any" }, "reference where present, else expert annotations"),
      h("option", { value: "reference" }, "imported reference only"),
      h("option", { value: "human" }, "expert annotations only"),
    );
    const reviewed = h("input", { type: "checkbox", name: "reviewed_only" });
    const form = h(
      "form",
      { className: "export-form", "aria-label": "Export a data set" },
      h("fieldset", {}, h("legend", {}, "Formats"), ...boxes),
      h("label", { className: "field" }, h("span", {}, "Modality"), modality),
      h("label", { className: "field" }, h("span", {}, "Label status"), labelStatus),
      h("label", { className: "field" }, h("span", {}, "Ground truth"), groundTruth),
      h("label", { className: "check" }, reviewed, " Reviewed exams only"),
      h("button", { type: "submit", className: "primary" }, "Start export"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const formats = boxes.map((b) => b.querySelector("input")!).filter((i) => i.checked).map((i) => i.value);
      void this.start({
        project: this.project.id,
        formats,
        ...(modality.value ? { modality: modality.value } : {}),
        label_status: labelStatus.value as "any",
        ground_truth: groundTruth.value as "any",
        reviewed_only: reviewed.checked,
      });
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
