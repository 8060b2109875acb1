/** /projects/{id}/adjudication/: the exams whose independent readers disagree beyond the
 * project's rules (GET /api/adjudication/), each exam's reads side by side, and the consensus
 * form: exam labels and the readers' findings to keep (POST .../consensus/, which closes the
 * exam and takes it off the queue). */

import "../ml/ml.css";
import "./readers.css";
import type { Api, Schemas } from "../api";
import type { SenolabConfig } from "../config";
import { h, select } from "../findings/dom";
import { loadSchema } from "../findings/setup";
import { DEFAULT_SCHEMA, type LabelSchema } from "../findings/types";
import { errorText, frame, notice, section } from "../ml/common";

export type ExamReads = Schemas["ExamReads"];
type Read = Schemas["Read"];
type FindingRow = Schemas["Finding"];

/** One line for a finding: type, side, BI-RADS, pathology and its marks (pure). */
export function findingLine(f: FindingRow): string {
  const labels = [f.finding_type || "finding", f.laterality, f.birads ? `BI-RADS ${f.birads}` : "", f.pathology].filter(Boolean).join(", ");
  const marks = f.marks.map((m) => `${m.kind} on image ${m.image ?? m.slide}`).join("; ");
  return marks ? `${labels} — ${marks}` : labels;
}

/** The reader's exam-level labels in words (pure). */
export function labelLine(read: Pick<Read, "labels">): string {
  const parts = read.labels.map((x) => [x.laterality ? `${x.laterality}:` : "exam:", x.density && `density ${x.density}`, x.birads && `BI-RADS ${x.birads}`, x.pathology].filter(Boolean).join(" "));
  return parts.join(" · ") || "no labels";
}

export class AdjudicationView {
  readonly el: HTMLElement;
  private readonly main: HTMLElement;
  private readonly queueEl = h("div", { dataset: { testid: "adjudication-queue" } });
  private readonly examEl = h("div", { dataset: { testid: "adjudication-exam" } });
  private schema: LabelSchema = DEFAULT_SCHEMA;

  constructor(
    private readonly api: Api,
    config: SenolabConfig,
    private readonly project: number,
  ) {
    const { page, main } = frame(config, "Adjudication", h("a", { href: `/?project=${project}` }, "Worklist"), h("a", { href: `/projects/${project}/agreement/` }, "Agreement"));
    this.el = page;
    this.main = main;
    this.main.append(section("Exams to adjudicate", this.queueEl), this.examEl);
  }

  async start(): Promise<void> {
    try {
      this.schema = await loadSchema(this.api, this.project);
    } catch {
      this.schema = DEFAULT_SCHEMA;
    }
    await this.loadQueue();
  }

  private async loadQueue(): Promise<void> {
    let rows: Schemas["QueueRow"][];
    try {
      rows = await this.api.GET("/api/adjudication/", { query: { project: this.project } });
    } catch (err) {
      this.queueEl.replaceChildren(notice(`The queue could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    if (!rows.length) {
      this.queueEl.replaceChildren(h("p", { className: "muted", dataset: { testid: "queue-empty" } }, "No exam needs adjudication: every finished exam's readers agree within the project's rules."));
      return;
    }
    this.queueEl.replaceChildren(
      h(
        "table",
        { className: "ml-table queue-table" },
        h("thead", {}, h("tr", {}, ...["Exam", "Readers", "Why", ""].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          ...rows.map((row) =>
            h(
              "tr",
              { dataset: { testid: "queue-row", examId: row.exam } },
              h("td", {}, h("a", { href: `/exams/${row.exam}/` }, `#${row.exam}`)),
              h("td", {}, row.readers.join(", ")),
              h("td", {}, row.reasons.join("; ")),
              h("td", {}, h("button", { dataset: { action: "review" }, on: { click: () => void this.openExam(row.exam) } }, "Review")),
            ),
          ),
        ),
      ),
    );
  }

  async openExam(exam: number): Promise<void> {
    let data: ExamReads;
    try {
      data = await this.api.GET("/api/adjudication/{exam_id}/", { path: { exam_id: exam } });
    } catch (err) {
      this.examEl.replaceChildren(notice(`Exam ${exam} could not be loaded: ${errorText(err)}`, "error"));
      return;
    }
    this.renderExam(data);
  }

  private renderExam(data: ExamReads, message = ""): void {
    const columns = data.reads.map((read) =>
      h(
        "div",
        { className: "read-column", dataset: { testid: "read-column", reader: read.reader } },
        h("h3", {}, read.reader),
        h("p", { className: "muted" }, `${read.status.replace(/_/g, " ")} · ${labelLine(read)}`),
        h(
          "ul",
          {},
          ...read.findings.map((f) =>
            h("li", {}, h("label", {}, h("input", { type: "checkbox", name: "keep", value: String(f.id), "aria-label": `keep finding ${f.id} of ${read.reader}` }), " ", findingLine(f))),
          ),
        ),
        read.findings.length ? null : h("p", { className: "muted" }, "No findings."),
      ),
    );
    const form = h(
      "form",
      { className: "consensus-form", dataset: { testid: "consensus-form" } },
      h("label", {}, "Density ", select("density", this.schema.density, "", () => undefined)),
      h("label", {}, "BI-RADS ", select("birads", this.schema.birads, "", () => undefined)),
      h("label", {}, "Pathology ", select("pathology", this.schema.pathology, "", () => undefined)),
      h("button", { type: "submit", className: "primary" }, "Record consensus"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.record(data.exam, columnsEl, form);
    });
    const columnsEl = h("div", { className: "reads-columns" }, ...columns);
    const consensus = data.consensus.labels.length || data.consensus.findings.length
      ? h("p", { dataset: { testid: "consensus-recorded" } }, `Consensus: ${labelLine(data.consensus)}; ${data.consensus.findings.length} finding(s) kept.`)
      : null;
    this.examEl.replaceChildren(
      section(
        `Exam #${data.exam}${data.closed ? " (closed)" : ""}`,
        h("p", { className: "muted" }, data.reasons.join("; ") || "The reads agree within the rules."),
        h("p", {}, h("a", { href: `/exams/${data.exam}/` }, "Open the exam")),
        columnsEl,
        h("h3", {}, "Consensus: tick the findings to keep and give the exam's labels"),
        form,
        consensus,
        message ? notice(message) : null,
      ),
    );
  }

  private async record(exam: number, columns: HTMLElement, form: HTMLFormElement): Promise<void> {
    const data = new FormData(form);
    const findings = [...columns.querySelectorAll<HTMLInputElement>("input[name=keep]:checked")].map((box) => Number(box.value));
    const body: Schemas["ConsensusInputRequest"] = { findings };
    for (const key of ["density", "birads", "pathology"] as const) {
      const value = String(data.get(key) ?? "");
      if (value) body[key] = value;
    }
    try {
      const result = await this.api.POST("/api/adjudication/{exam_id}/consensus/", { path: { exam_id: exam }, body });
      this.renderExam(result, `Consensus recorded: exam #${exam} is closed.`);
      await this.loadQueue();
    } catch (err) {
      form.append(notice(errorText(err), "error"));
    }
  }
}
