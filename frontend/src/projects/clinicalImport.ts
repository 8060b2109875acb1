/** The project page's clinical-record import (annotators and above): a CSV file keyed by patient
 * pseudonym goes to POST /api/projects/{id}/clinical-records/import/. The server checks every
 * row first and stores nothing when one is bad; the panel then lists each bad line and why, or
 * says how many records were created and updated. The columns are those of docs/api.md. */

import { ApiError, type Api, type Schemas } from "../api";
import { h } from "../findings/dom";

type ImportResult = Schemas["ClinicalImportResult"];

/** "12 rows read: 3 records created, 9 updated." */
export function importSummary(result: ImportResult): string {
  const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  return `${n(result.rows, "row", "rows")} read: ${n(result.created, "record", "records")} created, ${result.updated} updated.`;
}

/** The bad lines of a refused import, from the 400's detail ({rows: [{line, reason}]}). */
export function badLines(detail: unknown): { line: number; reason: string }[] {
  const rows = (detail as { rows?: unknown } | undefined)?.rows;
  if (!Array.isArray(rows)) return [];
  return rows
    .filter((r): r is { line: number; reason: string } => typeof r?.line === "number" && typeof r?.reason === "string")
    .map(({ line, reason }) => ({ line, reason }));
}

export class ClinicalImportPanel {
  readonly el: HTMLElement;
  private readonly result = h("div", { className: "clinical-import-result", role: "status", dataset: { testid: "clinical-import-result" } });

  constructor(
    private readonly api: Api,
    private readonly projectId: number,
  ) {
    const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
    const form = h(
      "form",
      { className: "clinical-import", "aria-label": "Import clinical records" },
      h("label", { className: "field" }, h("span", {}, "CSV file (a pseudonym column, then the record's columns)"), file),
      h("button", { type: "submit" }, "Import records"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) {
        this.show(h("span", { className: "error" }, "Choose a CSV file first."));
        return;
      }
      void this.send(chosen, form);
    });
    this.el = h("section", { className: "clinical-import-panel", dataset: { testid: "clinical-import" } }, h("h3", {}, "Import clinical records"), form, this.result);
  }

  private async send(chosen: File, form: HTMLFormElement): Promise<void> {
    const data = new FormData();
    data.append("file", chosen);
    this.show(h("span", { className: "muted" }, `Importing ${chosen.name}…`));
    try {
      const result = await this.api.upload<ImportResult>(`/api/projects/${this.projectId}/clinical-records/import/`, data);
      this.show(h("span", {}, importSummary(result)));
      form.reset();
    } catch (err) {
      const lines = err instanceof ApiError ? badLines(err.detail) : [];
      this.show(
        h("span", { className: "error", role: "alert" }, err instanceof Error ? err.message : String(err)),
        lines.length ? h("ul", { className: "bad-lines" }, ...lines.map(({ line, reason }) => h("li", { dataset: { line } }, `Line ${line}: ${reason}`))) : null,
      );
    }
  }

  private show(...children: (Node | null)[]): void {
    this.result.replaceChildren(...children.filter((c): c is Node => c !== null));
  }
}
