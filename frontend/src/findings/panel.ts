/** The findings panel `[data-testid=findings]`: the list of findings, the label selects of the
 * selected one (from the project's label schema), and the reader's exam-level and breast-level
 * labels. It edits through the FindingStore, so every change autosaves and can be undone. */

import type { Role } from "../config";
import type { Shortcuts } from "../shortcuts";
import { h, humanize, select } from "./dom";
import { referencePreference, rememberReference } from "./reference";
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
  /** The reader's role in the project: only owners may change reference findings. Default:
   * the role the page's #senolab-config gives for its project (none: read-only reference). */
  role?: Role | null;
  /** Show the reference (imported ground truth) at first. Default: the reader's last choice
   * for the project, else shown unless the project reads blind (`hide_reference`). */
  showReference?: boolean;
  /** The reader turned the reference on or off (a page can hide its marks too). */
  onReferenceToggle?: (shown: boolean) => void;
}

interface PageConfig {
  projectId?: number | null;
  apiBase?: string;
  projects?: { id: number; role: Role | null }[];
}

/** The page's #senolab-config, when the panel lives in a Senolab page. */
function pageConfig(): PageConfig | null {
  const text = document.getElementById("senolab-config")?.textContent;
  if (!text) return null;
  try {
    return JSON.parse(text) as PageConfig;
  } catch {
    return null;
  }
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
  private readonly referenceEl: HTMLLabelElement;
  private selectedKey: string | null = null;
  private editorKey: string | null = null;
  private editorType: string | null = null;
  private readonly off: (() => void)[] = [];
  private readonly role: Role | null;
  private readonly projectId: number | null;
  private referenceShown: boolean;

  constructor(
    private readonly store: FindingStore,
    private readonly options: PanelOptions,
  ) {
    this.actionsEl = h("div", { className: "finding-actions" });
    this.listEl = h("ol", { className: "finding-list", "aria-label": "Findings" });
    this.editorEl = h("div", { className: "finding-editor" });
    this.labelsEl = h("section", { className: "exam-labels", dataset: { testid: "exam-labels" } });
    const config = pageConfig();
    this.projectId = config?.projectId ?? null;
    this.role = options.role !== undefined ? options.role : (config?.projects?.find((p) => p.id === this.projectId)?.role ?? null);
    const remembered = referencePreference(this.projectId);
    this.referenceShown = options.showReference ?? remembered ?? true;
    const referenceBox = h("input", {
      type: "checkbox",
      name: "show_reference",
      checked: this.referenceShown,
      on: { change: (e: Event) => this.setReferenceShown((e.target as HTMLInputElement).checked, true) },
    });
    this.referenceEl = h(
      "label",
      { className: "reference-toggle", title: "Imported ground truth: show it, or read blind", dataset: { testid: "show-reference" }, hidden: true },
      referenceBox,
      " Reference",
    );
    if (options.showReference === undefined && remembered === null && config?.apiBase && this.projectId) {
      // A blind-reading project starts blind for those who may see its reference too.
      void this.startBlindIfProjectIs(config.apiBase, this.projectId);
    }
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
      h("header", {}, h("h2", {}, "Findings"), this.referenceEl, create),
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

  /** Whether reference findings and labels are shown (the reader's toggle). */
  get showsReference(): boolean {
    return this.referenceShown;
  }

  /** Reference findings are read-only to all but the project's owners (the API says 403). */
  canEdit(finding: FindingView): boolean {
    return finding.source !== "reference" || this.role === "owner";
  }

  /** Show or hide the reference; `remember` keeps the choice for the project. */
  setReferenceShown(shown: boolean, remember = false): void {
    if (remember) rememberReference(this.projectId, shown);
    if (shown === this.referenceShown) return;
    this.referenceShown = shown;
    const box = this.referenceEl.querySelector("input");
    if (box) box.checked = shown;
    if (!shown && this.selectedKey && this.store.get(this.selectedKey)?.source === "reference") this.select(null);
    this.options.onReferenceToggle?.(shown);
    this.render();
  }

  private async startBlindIfProjectIs(apiBase: string, projectId: number): Promise<void> {
    try {
      const base = apiBase.endsWith("/") ? apiBase : `${apiBase}/`;
      const response = await fetch(`${base}projects/${projectId}/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const project = response.ok ? ((await response.json()) as { hide_reference?: boolean }) : null;
      if (project?.hide_reference) this.setReferenceShown(false);
    } catch {
      // Offline: the reference stays as it is; the reader can still hide it.
    }
  }

  /** The findings the list shows: the reference ones only while the toggle shows them. */
  private visible(): FindingView[] {
    const all = this.store.findings();
    return this.referenceShown ? all : all.filter((f) => f.source !== "reference");
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
    const list = this.visible();
    if (!list.length) return;
    const at = list.findIndex((f) => f.key === this.selectedKey);
    const next = at < 0 ? (delta > 0 ? 0 : list.length - 1) : (at + delta + list.length) % list.length;
    this.select(list[next].key);
  }

  /** Set a label of the selected finding (keyboard shortcuts). */
  setField(name: "finding_type" | "birads" | "pathology", value: string): boolean {
    const finding = this.selectedKey ? this.store.get(this.selectedKey) : undefined;
    if (!this.selectedKey || !finding || !this.canEdit(finding)) return false;
    this.store.update(this.selectedKey, { [name]: value });
    return true;
  }

  deleteSelected(): void {
    const finding = this.selectedKey ? this.store.get(this.selectedKey) : undefined;
    if (!this.selectedKey || !finding || !this.canEdit(finding)) return;
    const list = this.visible();
    const at = list.findIndex((f) => f.key === this.selectedKey);
    this.store.remove(this.selectedKey);
    const rest = this.visible();
    this.select(rest.length ? rest[Math.min(at, rest.length - 1)].key : null);
  }

  render(): void {
    if (this.selectedKey && !this.visible().some((f) => f.key === this.selectedKey)) {
      this.selectedKey = null;
      this.options.onSelect?.(null);
    }
    const hasReference = this.store.findings().some((f) => f.source === "reference") || this.store.otherLabels.some((l) => l.source === "reference");
    this.referenceEl.hidden = !hasReference;
    this.renderList();
    this.renderEditor();
    this.renderLabels();
  }

  private renderList(): void {
    const findings = this.visible();
    if (!findings.length) {
      this.listEl.replaceChildren(
        h("li", { className: "empty muted" }, "No findings yet: draw a mark, or press ? for the keys."),
      );
      return;
    }
    this.listEl.replaceChildren(
      ...findings.map((f, i) => {
        const flags = [
          f.source === "reference"
            ? h("span", { className: "tag tag-ref", title: this.canEdit(f) ? "Imported ground truth" : "Imported ground truth: read-only (owners may correct it)" }, "ref")
            : null,
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
      h("h3", {}, title(finding, this.visible().findIndex((f) => f.key === key))),
      ...(this.canEdit(finding)
        ? []
        : [h("p", { className: "muted read-only-note", dataset: { testid: "read-only" } }, "Imported ground truth: read-only. Only a project owner may change it.")]),
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
    if (!this.canEdit(finding)) this.lockEditor();
  }

  /** A finding the reader may not change: every control that would change it is disabled. */
  private lockEditor(): void {
    const controls = this.editorEl.querySelectorAll<HTMLSelectElement | HTMLTextAreaElement | HTMLInputElement | HTMLButtonElement>(
      "select, textarea, input, button.danger, .finding-actions button",
    );
    for (const el of controls) {
      el.disabled = true;
      el.title = "Imported ground truth: only a project owner may change it";
    }
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
    if (!this.canEdit(finding)) this.lockEditor();
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
    const others = this.store.otherLabels.filter((l) => (l.density || l.birads || l.pathology) && (this.referenceShown || l.source !== "reference"));
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
