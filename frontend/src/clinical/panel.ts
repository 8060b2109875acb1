/** The clinical record beside the images: a one-line summary that opens into a form (age,
 * density, risk factors, biopsy outcome, receptors and the project's own fields from its
 * clinical schema). A save sends the `updated_at` it read; when someone saved the record since,
 * the server answers 409 with theirs, and the panel shows both and lets the reader keep theirs
 * or hers (saved on top of theirs), as the findings' conflict dialog does. */

import { ApiError, type Api, type Schemas } from "../api";
import { h, humanize } from "../findings/dom";
import "./clinical.css";

export type ClinicalRecord = Schemas["ClinicalRecord"];

export interface ClinicalField {
  type: "number" | "integer" | "text" | "choice" | "bool";
  choices?: string[];
  minimum?: number;
  maximum?: number;
  required?: boolean;
}
export type ClinicalSchema = Record<string, ClinicalField>;

/** The editable part of a record, as the form holds it and the PUT sends it. */
export interface ClinicalValues {
  age_at_exam: number | null;
  breast_density: string;
  risk_factors: string[];
  biopsy_outcome: string;
  receptor_status: Record<string, string>;
  fields: Record<string, string | number | boolean>;
}

export const DENSITIES = ["A", "B", "C", "D"];
export const RECEPTORS = ["ER", "PR", "HER2", "Ki67"];
const RECEPTOR_CHOICES: Record<string, string[]> = {
  ER: ["positive", "negative"],
  PR: ["positive", "negative"],
  HER2: ["0", "1+", "2+", "3+", "positive", "negative", "equivocal"],
};
const OUTCOMES = ["benign", "malignant", "high-risk", "atypia", "not biopsied"];

export type PanelState = "empty" | "saved" | "dirty" | "saving" | "conflict" | "error";

/** The record's values as plain data (missing parts empty). */
export function valuesOf(record: Partial<ClinicalRecord> | null | undefined): ClinicalValues {
  const receptors = (record?.receptor_status ?? {}) as Record<string, unknown>;
  const fields = (record?.fields ?? {}) as Record<string, unknown>;
  return {
    age_at_exam: record?.age_at_exam ?? null,
    breast_density: record?.breast_density ?? "",
    risk_factors: ((record?.risk_factors as string[] | undefined) ?? []).map(String),
    biopsy_outcome: record?.biopsy_outcome ?? "",
    receptor_status: Object.fromEntries(Object.entries(receptors).filter(([, v]) => v !== null && v !== "").map(([k, v]) => [k, String(v)])),
    fields: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== "")) as ClinicalValues["fields"],
  };
}

/** One line for the summary: "57 y · density C · benign · ER positive". */
export function summarize(values: ClinicalValues, schema: ClinicalSchema = {}): string {
  const parts: string[] = [];
  if (values.age_at_exam != null) parts.push(`${values.age_at_exam} y`);
  if (values.breast_density) parts.push(`density ${values.breast_density}`);
  if (values.biopsy_outcome) parts.push(values.biopsy_outcome);
  for (const name of RECEPTORS) if (values.receptor_status[name]) parts.push(`${name} ${values.receptor_status[name]}`);
  if (values.risk_factors.length) parts.push(values.risk_factors.map(humanize).join(", "));
  for (const name of Object.keys(schema)) {
    const value = values.fields[name];
    if (value !== undefined) parts.push(`${humanize(name)}: ${display(value)}`);
  }
  return parts.join(" · ") || "nothing recorded";
}

function display(value: unknown): string {
  if (value === true) return "yes";
  if (value === false) return "no";
  return value === undefined || value === null || value === "" ? "—" : String(value);
}

/** The rows the conflict box compares: label and value of every part of the record. */
export function compareRows(values: ClinicalValues, schema: ClinicalSchema): [string, string][] {
  return [
    ["Age", display(values.age_at_exam)],
    ["Density", display(values.breast_density)],
    ["Risk factors", values.risk_factors.map(humanize).join(", ") || "—"],
    ["Biopsy", display(values.biopsy_outcome)],
    ...RECEPTORS.map((name): [string, string] => [name, display(values.receptor_status[name])]),
    ...Object.keys(schema).map((name): [string, string] => [humanize(name), display(values.fields[name])]),
  ];
}

/** A field's text from the form as the value the schema wants; undefined when empty. */
export function parseField(spec: ClinicalField, text: string): string | number | boolean | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  if (spec.type === "bool") return trimmed === "yes";
  if (spec.type === "number" || spec.type === "integer") {
    const n = Number(trimmed);
    return Number.isFinite(n) ? n : trimmed; // the server names what is wrong with the rest
  }
  return trimmed;
}

interface Conflict {
  message: string;
  mine: ClinicalValues;
  theirs: ClinicalRecord | null;
}

export class ClinicalPanel {
  readonly el: HTMLDetailsElement;
  private readonly summaryText = h("span", { className: "clinical-summary", dataset: { testid: "clinical-summary" } });
  private readonly statusEl = h("span", { className: "clinical-status muted", dataset: { testid: "clinical-status" }, "aria-live": "polite" });
  private readonly body = h("div", { className: "clinical-body" });
  private state: PanelState = "saved";
  private conflict: Conflict | null = null;
  private removeGuard: () => void = () => {};

  constructor(
    private readonly api: Api,
    private readonly examId: number,
    private record: ClinicalRecord | null,
    private readonly schema: ClinicalSchema,
    private readonly canEdit: boolean,
    private readonly win: Window = window,
  ) {
    this.el = h(
      "details",
      { className: "clinical", dataset: { testid: "clinical" } },
      h("summary", {}, h("strong", {}, "Clinical record"), " ", this.summaryText),
      this.statusEl,
      this.body,
    );
    const guard = (event: BeforeUnloadEvent) => {
      if (this.state !== "dirty" && this.state !== "conflict") return;
      event.preventDefault();
      event.returnValue = "";
    };
    this.win.addEventListener("beforeunload", guard);
    this.removeGuard = () => this.win.removeEventListener("beforeunload", guard);
    this.render(valuesOf(record));
    this.setState(record ? "saved" : "empty");
  }

  get current(): ClinicalRecord | null {
    return this.record;
  }

  get status(): PanelState {
    return this.state;
  }

  private setState(state: PanelState, text?: string): void {
    this.state = state;
    this.statusEl.dataset.state = state;
    const defaults: Record<PanelState, string> = {
      empty: "No clinical record yet.",
      saved: this.record?.updated_at ? `Saved ${this.record.updated_at.slice(0, 16).replace("T", " ")}` : "Saved",
      dirty: "Unsaved changes",
      saving: "Saving…",
      conflict: "Changed by someone else",
      error: "Not saved",
    };
    this.statusEl.textContent = text ?? defaults[state];
  }

  /** The form's values (what a save sends, less updated_at). */
  values(): ClinicalValues {
    const form = this.body.querySelector("form");
    const get = (name: string) => (form?.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value ?? "";
    const age = get("age_at_exam").trim();
    const receptors: Record<string, string> = {};
    for (const name of RECEPTORS) {
      const value = get(name).trim();
      if (value) receptors[name] = value;
    }
    const fields: ClinicalValues["fields"] = {};
    for (const [name, spec] of Object.entries(this.schema)) {
      const value = parseField(spec, get(`field:${name}`));
      if (value !== undefined) fields[name] = value;
    }
    return {
      age_at_exam: age ? Number(age) : null,
      breast_density: get("breast_density"),
      risk_factors: get("risk_factors").split(",").map((s) => s.trim()).filter(Boolean),
      biopsy_outcome: get("biopsy_outcome").trim(),
      receptor_status: receptors,
      fields,
    };
  }

  /** PUT the form on top of the record last read (or `base`'s updated_at when keeping mine). */
  async save(values: ClinicalValues = this.values(), base: ClinicalRecord | null = this.record): Promise<void> {
    this.setState("saving");
    try {
      this.record = await this.api.PUT("/api/exams/{id}/clinical-record/", {
        path: { id: this.examId },
        body: { ...values, breast_density: values.breast_density as Schemas["BreastDensityEnum"] | "", updated_at: base?.updated_at ?? null },
      });
      this.conflict = null;
      this.render(valuesOf(this.record));
      this.setState("saved");
    } catch (err) {
      if (err instanceof ApiError && err.isConflict) {
        const theirs = ((err.detail as { current?: ClinicalRecord | null } | undefined)?.current ?? null) as ClinicalRecord | null;
        this.conflict = { message: err.message, mine: values, theirs };
        this.renderConflict();
        this.setState("conflict");
        return;
      }
      this.setState("error", err instanceof Error ? err.message : String(err));
    }
  }

  /** After a 409: save mine on top of the stored record. */
  async keepMine(): Promise<void> {
    const c = this.conflict;
    if (!c) return;
    await this.save(c.mine, c.theirs);
  }

  /** After a 409: show the stored record, mine is dropped. */
  takeTheirs(): void {
    const c = this.conflict;
    if (!c) return;
    this.record = c.theirs;
    this.conflict = null;
    this.render(valuesOf(this.record));
    this.setState(this.record ? "saved" : "empty");
  }

  private markDirty = (): void => {
    if (this.state !== "conflict") this.setState("dirty");
  };

  private render(values: ClinicalValues): void {
    this.summaryText.textContent = this.record ? summarize(values, this.schema) : "none yet";
    const disabled = !this.canEdit;
    const input = (name: string, value: string, attrs: Record<string, unknown> = {}) =>
      h("input", { name, value, "aria-label": humanize(name.replace(/^field:/, "")), disabled, ...attrs });
    const choose = (name: string, choices: string[], current: string, titles: Record<string, string> = {}) => {
      const el = h("select", { name, "aria-label": humanize(name.replace(/^field:/, "")), disabled }, h("option", { value: "" }, "—"));
      for (const c of choices) el.append(h("option", { value: c }, titles[c] ?? c));
      if (current && !choices.includes(current)) el.append(h("option", { value: current }, current));
      el.value = current;
      return el;
    };
    const row = (label: string, control: HTMLElement) => h("label", { className: "field" }, h("span", {}, label), control);
    const outcomes = h("datalist", { id: `clinical-outcomes-${this.examId}` }, ...OUTCOMES.map((o) => h("option", { value: o })));
    const form = h(
      "form",
      { className: "clinical-form", on: { input: this.markDirty, change: this.markDirty, submit: (e) => { e.preventDefault(); void this.save(); } } },
      row("Age", input("age_at_exam", values.age_at_exam == null ? "" : String(values.age_at_exam), { type: "number", min: "0", max: "150", step: "1" })),
      row("Density", choose("breast_density", DENSITIES, values.breast_density)),
      row("Risk factors", input("risk_factors", values.risk_factors.join(", "), { type: "text", placeholder: "comma separated" })),
      row("Biopsy", input("biopsy_outcome", values.biopsy_outcome, { type: "text", list: outcomes.id, maxlength: "20" })),
      outcomes,
      h(
        "div",
        { className: "clinical-receptors" },
        ...RECEPTORS.map((name) =>
          row(name, name === "Ki67"
            ? input(name, values.receptor_status[name] ?? "", { type: "text", placeholder: "%" })
            : choose(name, RECEPTOR_CHOICES[name] ?? [], values.receptor_status[name] ?? "")),
        ),
      ),
      ...Object.entries(this.schema).map(([name, spec]) => {
        const value = values.fields[name];
        const text = value === undefined ? "" : spec.type === "bool" ? (value ? "yes" : "no") : String(value);
        const control =
          spec.type === "choice" ? choose(`field:${name}`, (spec.choices ?? []).map(String), text)
          : spec.type === "bool" ? choose(`field:${name}`, ["yes", "no"], text)
          : spec.type === "text" ? input(`field:${name}`, text, { type: "text" })
          : input(`field:${name}`, text, { type: "number", step: spec.type === "integer" ? "1" : "any", min: spec.minimum, max: spec.maximum });
        return row(`${humanize(name)}${spec.required ? " *" : ""}`, control);
      }),
      this.canEdit ? h("div", { className: "row" }, h("button", { type: "submit", className: "primary", dataset: { action: "save-clinical" } }, "Save record")) : null,
    );
    this.body.replaceChildren(form);
  }

  private renderConflict(): void {
    const c = this.conflict;
    if (!c) return;
    const theirs = valuesOf(c.theirs);
    const mineRows = compareRows(c.mine, this.schema);
    const theirRows = compareRows(theirs, this.schema);
    const table = h("table", { className: "clinical-compare" }, h("tr", {}, h("th", {}), h("th", {}, "Mine"), h("th", {}, "Theirs")));
    mineRows.forEach(([label, mine], i) => {
      const other = theirRows[i]?.[1] ?? "—";
      table.append(h("tr", { className: mine !== other ? "differs" : "" }, h("th", {}, label), h("td", { dataset: { side: "mine" } }, mine), h("td", { dataset: { side: "theirs" } }, other)));
    });
    const box = h(
      "div",
      { className: "clinical-conflict", role: "alert", dataset: { testid: "clinical-conflict" } },
      h("p", {}, c.message),
      table,
      h(
        "div",
        { className: "row" },
        h("button", { type: "button", className: "primary", dataset: { action: "clinical-keep-mine" }, on: { click: () => void this.keepMine() } }, "Keep mine"),
        h("button", { type: "button", dataset: { action: "clinical-take-theirs" }, on: { click: () => this.takeTheirs() } }, "Take theirs"),
      ),
    );
    this.body.querySelector(".clinical-conflict")?.remove();
    this.body.prepend(box);
    this.el.open = true;
  }

  dispose(): void {
    this.removeGuard();
    this.el.remove();
  }
}
