/** The findings panel `[data-testid=findings]`: the list of findings, the label selects of the
 * selected one (from the project's label schema), and the reader's exam-level and breast-level
 * labels. It edits through the FindingStore, so every change autosaves and can be undone. */

import type { Shortcuts } from "../shortcuts";
import { h, humanize, select } from "./dom";
import type { FindingStore, FindingView } from "./store";
import type { AttributeSpec, LabelLaterality, LabelSchema, Mark } from "./types";

export interface PanelOptions {
  schema: LabelSchema;
  /** Descriptors declared for other modalities are left out. */
  modality?: string;
  /** Breast-level (L/R) labels; off for a slide. */
  breastLabels?: boolean;
  /** Radiology reading (BI-RADS, breast density); off for a slide, which is labelled with its
   * pathology only. */
  radiology?: boolean;
  /** How a mark is named in the list ("box on R-CC"). */
  describeMark?: (mark: Mark) => string;
  onSelect?: (key: string | null) => void;
  /** A mark was chosen in the list (a page can centre its view on it). */
  onFocusMark?: (findingKey: string, mark: Mark) => void;
  /** "New finding" is offered (pages where a mark creates the finding may hide it). */
  allowCreate?: boolean;
}

const BREASTS: [LabelLaterality, string][] = [
  ["R", "Right breast"],
  ["L", "Left breast"],
];

function title(finding: FindingView, index: number): string {
  const type = finding.finding_type ? humanize(finding.finding_type) : "unlabelled finding";
  return `${index + 1}. ${type}`;
}

/** A descriptor's label without the finding type it belongs to ("Shape" under a mass). */
export function attributeLabel(name: string, findingType: string): string {
  const words = findingType && name.startsWith(`${findingType}_`) ? name.slice(findingType.length + 1) : name;
  const text = humanize(words);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export class FindingsPanel {
  readonly el: HTMLElement;
  /** A slot for page-specific actions of the selected finding (e.g. link to a view). */
  readonly actionsEl: HTMLElement;
  private readonly listEl: HTMLElement;
  private readonly editorEl: HTMLElement;
  private readonly labelsEl: HTMLElement;
  private selectedKey: string | null = null;
  private editorKey: string | null = null;
  private editorType: string | null = null;
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly store: FindingStore,
    private readonly options: PanelOptions,
  ) {
    this.actionsEl = h("div", { className: "finding-actions" });
    this.listEl = h("ol", { className: "finding-list", "aria-label": "Findings" });
    this.editorEl = h("div", { className: "finding-editor" });
    this.labelsEl = h("section", { className: "exam-labels", dataset: { testid: "exam-labels" } });
    const create =
      options.allowCreate === false
        ? null
        : h(
            "button",
            { dataset: { action: "new-finding" }, title: "New finding without a mark", on: { click: () => this.select(this.store.create()) } },
            "+ New",
          );
    this.el = h(
      "aside",
      { className: "findings-panel", dataset: { testid: "findings" } },
      h("header", {}, h("h2", {}, "Findings"), create),
      this.listEl,
      this.editorEl,
      this.labelsEl,
    );
    this.off.push(store.on("change", () => this.render()));
    this.render();
  }

  get selected(): string | null {
    return this.selectedKey;
  }

  /** Select a finding by key (null: none); the page shows its marks highlighted. */
  select(key: string | null): void {
    if (key !== null && !this.store.get(key)) key = null;
    if (key === this.selectedKey) return;
    this.selectedKey = key;
    this.options.onSelect?.(key);
    this.render();
  }

  /** Move the selection through the list (shortcuts "]" and "["). */
  step(delta: number): void {
    const list = this.store.findings();
    if (!list.length) return;
    const at = list.findIndex((f) => f.key === this.selectedKey);
    const next = at < 0 ? (delta > 0 ? 0 : list.length - 1) : (at + delta + list.length) % list.length;
    this.select(list[next].key);
  }

  /** Set a label of the selected finding (keyboard shortcuts). */
  setField(name: "finding_type" | "birads" | "pathology", value: string): boolean {
    if (!this.selectedKey || !this.store.get(this.selectedKey)) return false;
    this.store.update(this.selectedKey, { [name]: value });
    return true;
  }

  deleteSelected(): void {
    if (!this.selectedKey) return;
    const list = this.store.findings();
    const at = list.findIndex((f) => f.key === this.selectedKey);
    this.store.remove(this.selectedKey);
    const rest = this.store.findings();
    this.select(rest.length ? rest[Math.min(at, rest.length - 1)].key : null);
  }

  render(): void {
    if (this.selectedKey && !this.store.get(this.selectedKey)) {
      this.selectedKey = null;
      this.options.onSelect?.(null);
    }
    this.renderList();
    this.renderEditor();
    this.renderLabels();
  }

  private renderList(): void {
    const findings = this.store.findings();
    if (!findings.length) {
      this.listEl.replaceChildren(
        h("li", { className: "empty muted" }, "No findings yet: draw a mark, or press ? for the keys."),
      );
      return;
    }
    this.listEl.replaceChildren(
      ...findings.map((f, i) => {
        const flags = [
          f.source === "reference" ? h("span", { className: "tag tag-ref", title: "Imported ground truth" }, "ref") : null,
          f.conflict ? h("span", { className: "tag tag-conflict" }, "conflict") : null,
          f.error ? h("span", { className: "tag tag-error", title: f.error }, "not saved") : null,
          !f.conflict && !f.error && f.dirty ? h("span", { className: "tag tag-dirty", title: "Saving soon" }, "•") : null,
        ];
        const item = h(
          "li",
          {
            className: `finding${f.key === this.selectedKey ? " selected" : ""}`,
            tabIndex: 0,
            "aria-selected": String(f.key === this.selectedKey),
            dataset: { testid: "finding", findingId: f.id ?? "", key: f.key },
            on: {
              click: () => this.select(f.key),
              keydown: (e: Event) => {
                if ((e as KeyboardEvent).key === "Enter") this.select(f.key);
              },
            },
          },
          h("span", { className: "finding-title" }, title(f, i)),
          f.birads ? h("span", { className: "birads", title: "BI-RADS" }, f.birads) : null,
          ...flags,
          h("span", { className: "finding-marks muted" }, `${f.marks.length} mark${f.marks.length === 1 ? "" : "s"}`),
        );
        return item;
      }),
    );
  }

  private renderEditor(): void {
    const finding = this.selectedKey ? this.store.get(this.selectedKey) : undefined;
    if (!finding) {
      this.editorKey = null;
      this.editorEl.replaceChildren();
      this.editorEl.hidden = true;
      return;
    }
    this.editorEl.hidden = false;
    // Rebuild only when the selection changed or the focus is elsewhere: typing a note must
    // not lose its caret when the store reports a save.
    if (this.editorKey === finding.key && this.editorType === finding.finding_type && this.editorEl.contains(document.activeElement)) {
      this.syncEditor(finding);
      return;
    }
    this.editorKey = finding.key;
    this.editorType = finding.finding_type;
    const { schema } = this.options;
    const key = finding.key;
    const set = (patch: Partial<FindingView>) => this.store.update(key, patch);
    const field = (label: string, control: HTMLElement) => h("label", { className: "field" }, h("span", {}, label), control);
    const attributes = this.attributesFor(finding.finding_type);
    // A new type drops the descriptors that do not fit it (a mass has no calcification morphology).
    const setType = (type: string) => {
      const keep = new Set(this.attributesFor(type).map(([name]) => name));
      const current = this.store.get(key)?.attributes ?? {};
      const fitting = Object.fromEntries(Object.entries(current).filter(([name]) => keep.has(name)));
      set({ finding_type: type, attributes: fitting });
    };
    const radiology = this.options.radiology !== false;
    this.editorEl.replaceChildren(
      h("h3", {}, title(finding, this.store.findings().findIndex((f) => f.key === key))),
      field("Type", select("finding_type", schema.finding_types, finding.finding_type, setType)),
      ...(radiology ? [field("BI-RADS", select("birads", schema.birads, finding.birads, (v) => set({ birads: v })))] : []),
      field("Pathology", select("pathology", schema.pathology, finding.pathology, (v) => set({ pathology: v }))),
      field(
        "Side",
        select("laterality", ["R", "L", "B"], finding.laterality, (v) => set({ laterality: v }), {
          titles: { R: "right", L: "left", B: "both" },
        }),
      ),
      ...attributes.map(([name, spec]) => field(attributeLabel(name, finding.finding_type), this.attributeControl(key, name, spec, finding.attributes[name]))),
      field(
        "Note",
        h("textarea", {
          name: "note",
          rows: 2,
          value: finding.note,
          on: { input: (e: Event) => this.store.update(key, { note: (e.target as HTMLTextAreaElement).value }, { coalesce: "note" }) },
        }),
      ),
      h("ul", { className: "mark-list" }, ...this.markItems(finding)),
      this.actionsEl,
      h(
        "div",
        { className: "row" },
        h("button", { className: "danger", dataset: { action: "delete-finding" }, on: { click: () => this.deleteSelected() } }, "Delete finding"),
      ),
    );
  }

  private syncEditor(finding: FindingView): void {
    for (const el of this.editorEl.querySelectorAll<HTMLSelectElement | HTMLTextAreaElement | HTMLInputElement>("select, textarea, input")) {
      if (el === document.activeElement) continue;
      const name = el.name;
      let value: unknown;
      if (name.startsWith("attributes.")) value = finding.attributes[name.slice(11)];
      else value = (finding as unknown as Record<string, unknown>)[name];
      if (el instanceof HTMLInputElement && el.type === "checkbox") el.checked = value === true;
      else el.value = value === undefined || value === null ? "" : String(value);
    }
    const marks = this.editorEl.querySelector(".mark-list");
    marks?.replaceChildren(...this.markItems(finding));
  }

  private applies(spec: AttributeSpec, findingType: string): boolean {
    const { modality } = this.options;
    const forModality = !modality || !spec.modalities?.length || spec.modalities.includes(modality);
    // An attribute declared for some finding types is asked once the finding has one of them.
    const forType = !spec.finding_types?.length || spec.finding_types.includes(findingType);
    return forModality && forType;
  }

  /** The schema's descriptors that fit a finding of this type on this page's modality. */
  attributesFor(findingType: string): [string, AttributeSpec][] {
    return Object.entries(this.options.schema.attributes ?? {}).filter(([, spec]) => this.applies(spec, findingType));
  }

  private attributeControl(key: string, name: string, spec: AttributeSpec, value: unknown): HTMLElement {
    const write = (v: unknown) => {
      const current = this.store.get(key);
      if (!current) return;
      const attributes = { ...current.attributes };
      if (v === "" || v === undefined || v === null) delete attributes[name];
      else attributes[name] = v;
      this.store.update(key, { attributes });
    };
    const fieldName = `attributes.${name}`;
    if (spec.type === "choice") return select(fieldName, spec.choices ?? [], String(value ?? ""), write);
    if (spec.type === "bool") {
      return h("input", { type: "checkbox", name: fieldName, checked: value === true, on: { change: (e: Event) => write((e.target as HTMLInputElement).checked || undefined) } });
    }
    return h("input", {
      type: spec.type === "number" ? "number" : "text",
      name: fieldName,
      value: value === undefined ? "" : String(value),
      on: {
        change: (e: Event) => {
          const raw = (e.target as HTMLInputElement).value;
          write(spec.type === "number" ? (raw === "" ? undefined : Number(raw)) : raw);
        },
      },
    });
  }

  private markItems(finding: FindingView): HTMLElement[] {
    const describe = this.options.describeMark ?? ((m: Mark) => `${m.kind}${m.slide != null ? " on slide" : m.image != null ? ` on image ${m.image}` : ""}`);
    return finding.marks.map((mark) =>
      h(
        "li",
        { dataset: { testid: "mark", markId: mark.id ?? "", kind: mark.kind } },
        h("button", { className: "link", title: "Show", on: { click: () => this.options.onFocusMark?.(finding.key, mark) } }, describe(mark)),
        h("button", { className: "link danger", title: "Remove this mark", dataset: { action: "remove-mark" }, on: { click: () => mark.key && this.store.removeMark(finding.key, mark.key) } }, "×"),
      ),
    );
  }

  private renderLabels(): void {
    if (this.labelsEl.contains(document.activeElement) && this.labelsEl.childElementCount) {
      // A select is open or focused: keep it; values come back through its own change.
      this.syncLabels();
      return;
    }
    const { schema } = this.options;
    const exam = this.store.label("");
    const labelField = (name: string, control: HTMLElement) => h("label", { className: "field" }, h("span", {}, name), control);
    const rows: HTMLElement[] = [
      h("h3", {}, "Exam"),
      this.options.radiology === false
        ? h("div", { className: "label-grid" }, labelField("Pathology", select("exam_pathology", schema.pathology, exam.pathology, (v) => this.store.setLabel("", { pathology: v }))))
        : h(
            "div",
            { className: "label-grid" },
            labelField("Breast density", select("density", schema.density, exam.density, (v) => this.store.setLabel("", { density: v }))),
            labelField("BI-RADS", select("exam_birads", schema.birads, exam.birads, (v) => this.store.setLabel("", { birads: v }))),
          ),
    ];
    if (this.options.breastLabels !== false) {
      const grid = h("div", { className: "label-grid breasts" });
      for (const [side, name] of BREASTS) {
        const label = this.store.label(side);
        grid.append(
          h("span", { className: "breast" }, name),
          select(`breast_birads_${side}`, schema.birads, label.birads, (v) => this.store.setLabel(side, { birads: v }), { label: "BI-RADS" }),
          select(`breast_pathology_${side}`, schema.pathology, label.pathology, (v) => this.store.setLabel(side, { pathology: v }), { label: "pathology" }),
        );
      }
      rows.push(grid);
    }
    const others = this.store.otherLabels.filter((l) => l.density || l.birads || l.pathology);
    if (others.length) {
      rows.push(
        h(
          "p",
          { className: "muted reference-labels", title: "Imported ground truth and other readers" },
          others
            .map((l) => `${l.source === "reference" ? "reference" : "other reader"}${l.laterality ? ` ${l.laterality}` : ""}: ${[l.density && `density ${l.density}`, l.birads && `BI-RADS ${l.birads}`, l.pathology].filter(Boolean).join(", ")}`)
            .join(" · "),
        ),
      );
    }
    this.labelsEl.replaceChildren(...rows);
  }

  private syncLabels(): void {
    const values: Record<string, string> = {
      density: this.store.label("").density,
      exam_birads: this.store.label("").birads,
      exam_pathology: this.store.label("").pathology,
    };
    for (const [side] of BREASTS) {
      values[`breast_birads_${side}`] = this.store.label(side).birads;
      values[`breast_pathology_${side}`] = this.store.label(side).pathology;
    }
    for (const el of this.labelsEl.querySelectorAll("select")) {
      if (el !== document.activeElement && el.name in values) el.value = values[el.name];
    }
  }

  /** The panel's keys: findings, labels, undo/redo. */
  registerShortcuts(shortcuts: Shortcuts): void {
    const group = "Findings";
    shortcuts.add({ keys: "]", description: "Next finding", group, run: () => this.step(1) });
    shortcuts.add({ keys: "[", description: "Previous finding", group, run: () => this.step(-1) });
    if (this.options.radiology === false) {
      shortcuts.add({ keys: "Ctrl+z", description: "Undo", group: "Edit", inFields: false, run: () => this.undo() });
      shortcuts.add({ keys: ["Ctrl+Shift+z", "Ctrl+y"], description: "Redo", group: "Edit", run: () => this.redo() });
      shortcuts.add({ keys: ["Delete", "Backspace"], description: "Delete the selected finding", group, run: () => this.deleteSelected() });
      return;
    }
    shortcuts.add({
      keys: ["0", "1", "2", "3", "4", "5", "6"],
      description: "BI-RADS of the selected finding",
      group,
      run: (e) => void this.setField("birads", e.key),
    });
    shortcuts.add({ keys: ["Delete", "Backspace"], description: "Delete the selected finding", group, run: () => this.deleteSelected() });
    shortcuts.add({
      keys: ["Alt+1", "Alt+2", "Alt+3", "Alt+4"],
      description: "Breast density A, B, C, D of the exam",
      group: "Exam",
      run: (e) => {
        const value = this.options.schema.density[Number(e.code.replace(/\D/g, "") || e.key) - 1];
        if (value) this.store.setLabel("", { density: value });
      },
    });
    shortcuts.add({ keys: "Ctrl+z", description: "Undo", group: "Edit", inFields: false, run: () => this.undo() });
    shortcuts.add({ keys: ["Ctrl+Shift+z", "Ctrl+y"], description: "Redo", group: "Edit", run: () => this.redo() });
  }

  undo(): void {
    const key = this.store.undo();
    if (key && this.store.get(key)) this.select(key);
  }

  redo(): void {
    const key = this.store.redo();
    if (key && this.store.get(key)) this.select(key);
  }

  dispose(): void {
    for (const off of this.off) off();
  }
}
