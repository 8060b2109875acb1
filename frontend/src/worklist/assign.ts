/** Assigning readers from the worklist (owners and reviewers; POST /api/worklist/assign/): tick
 * exams in the list, then put named readers on each, a count of readers per exam (the least
 * loaded first), or a balanced random draw with a seed the server records. */

import { type Api, type Schemas } from "../api";
import { h } from "../findings/dom";
import "../readers/readers.css";

export type AssignMode = Schemas["ModeEnum"];

export const MODE_TEXT: Record<AssignMode, string> = {
  readers: "these readers on each exam",
  count: "N readers per exam, least loaded first",
  balanced: "N readers per exam, balanced random draw",
};

/** The request body for a choice in the form (pure, for the unit tests). */
export function assignBody(exams: number[], mode: AssignMode, readers: string[], perExam: number, seed: string): Schemas["AssignInputRequest"] {
  const body: Schemas["AssignInputRequest"] = { exams, mode };
  if (readers.length) body.readers = readers;
  if (mode !== "readers") body.per_exam = perExam;
  if (mode === "balanced" && seed.trim() !== "") body.seed = Number(seed);
  return body;
}

export class AssignPanel {
  readonly selected = new Set<number>();
  readonly el: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly readersEl = h("fieldset", { className: "assign-readers" }, h("legend", {}, "Readers"));
  private readonly outEl = h("p", { className: "muted", role: "status", dataset: { testid: "assign-result" } });
  private readonly countEl = h("span", { className: "muted", dataset: { testid: "assign-count" } }, "0 selected");

  constructor(
    private readonly api: Api,
    private readonly project: number,
    private readonly onAssigned: () => void,
    private readonly onSelect: () => void = () => undefined,
  ) {
    const mode = h("select", { name: "mode", "aria-label": "how to assign" });
    for (const [value, text] of Object.entries(MODE_TEXT)) mode.append(h("option", { value }, text));
    this.form = h(
      "form",
      { className: "assign-form", hidden: true, dataset: { testid: "assign-form" }, on: { submit: (e: Event) => { e.preventDefault(); void this.submit(); } } },
      h("label", {}, "Assign ", mode),
      h("label", {}, "N ", h("input", { name: "per_exam", type: "number", min: "1", value: "2", "aria-label": "readers per exam" })),
      h("label", {}, "Seed ", h("input", { name: "seed", type: "number", min: "0", placeholder: "random", "aria-label": "seed" })),
      this.readersEl,
      h("button", { type: "submit", className: "primary" }, "Assign"),
      this.outEl,
    );
    this.el = h(
      "div",
      { className: "assign", dataset: { testid: "assign" } },
      h("button", { type: "button", dataset: { action: "assign-readers" }, on: { click: () => void this.toggle() } }, "Assign readers…"),
      this.countEl,
      this.form,
    );
  }

  /** The row's tick box. */
  checkbox(exam: number): HTMLElement {
    const box = h("input", { type: "checkbox", "aria-label": `select exam ${exam}`, checked: this.selected.has(exam), dataset: { testid: "select-exam" } });
    box.addEventListener("click", (e) => e.stopPropagation());
    box.addEventListener("change", () => {
      if (box.checked) this.selected.add(exam);
      else this.selected.delete(exam);
      this.countEl.textContent = `${this.selected.size} selected`;
      this.onSelect();
    });
    return h("td", { className: "select", on: { click: (e: Event) => e.stopPropagation() } }, box);
  }

  private async toggle(): Promise<void> {
    this.form.hidden = !this.form.hidden;
    if (this.form.hidden || this.readersEl.querySelector("input")) return;
    const members = await this.api.list("/api/projects/{project_pk}/members/", { path: { project_pk: this.project } });
    for (const m of members.filter((m) => m.role !== "viewer")) {
      this.readersEl.append(h("label", {}, h("input", { type: "checkbox", name: "reader", value: m.username }), ` ${m.username}`));
    }
  }

  private async submit(): Promise<void> {
    const data = new FormData(this.form);
    const readers = data.getAll("reader").map(String);
    const body = assignBody([...this.selected], String(data.get("mode")) as AssignMode, readers, Number(data.get("per_exam")) || 1, String(data.get("seed") ?? ""));
    try {
      const result = await this.api.POST("/api/worklist/assign/", { query: { project: this.project }, body });
      const seed = result.seed !== null && result.seed !== undefined ? ` (seed ${result.seed})` : "";
      this.outEl.classList.remove("error");
      this.outEl.textContent = `${result.created} assignment(s) made${seed}: ${result.assignments.map((a) => `#${a.exam} → ${a.reader}`).join(", ") || "none new"}.`;
      this.onAssigned();
    } catch (err) {
      this.outEl.classList.add("error");
      this.outEl.textContent = err instanceof Error ? err.message : String(err);
    }
  }
}
