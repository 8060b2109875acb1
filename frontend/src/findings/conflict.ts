/** The conflict dialog: after HTTP 409, mine and theirs side by side, differences marked; the
 * reader keeps mine (saved on top of theirs) or takes theirs. Several conflicts queue up. */

import { h, humanize } from "./dom";
import type { FindingStore, SaveConflict } from "./store";
import type { ExamLabel, Finding, FindingFields, LabelFields, Mark } from "./types";

type Row = [label: string, value: string];

function marksSummary(marks: Mark[]): string {
  if (!marks.length) return "no marks";
  const counts = new Map<string, number>();
  for (const m of marks) {
    const where = m.slide != null ? "slide" : `image ${m.image ?? "?"}`;
    const name = `${m.kind} on ${where}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => (n > 1 ? `${n} × ${name}` : name)).join(", ");
}

function marksDetail(marks: Mark[]): string {
  return marks.map((m) => `${m.kind}:${JSON.stringify(m.geometry)}`).join(";");
}

function attributes(attrs: Record<string, unknown>): string {
  const parts = Object.entries(attrs ?? {}).map(([k, v]) => `${humanize(k)}: ${String(v)}`);
  return parts.join(", ") || "—";
}

/** The rows a reader compares: the labels, the note and the marks. */
export function conflictRows(
  kind: "finding" | "label",
  value: FindingFields | LabelFields | Finding | ExamLabel | null,
  deleted = false,
): Row[] {
  if (!value || deleted || (value as Finding).deleted) return [["state", "deleted"]];
  if (kind === "label") {
    const label = value as LabelFields;
    return [
      ["density", label.density || "—"],
      ["BI-RADS", label.birads || "—"],
      ["pathology", label.pathology || "—"],
      ["descriptors", attributes(label.attributes)],
    ];
  }
  const f = value as FindingFields;
  return [
    ["type", humanize(f.finding_type || "—")],
    ["BI-RADS", f.birads || "—"],
    ["pathology", f.pathology || "—"],
    ["laterality", f.laterality || "—"],
    ["descriptors", attributes(f.attributes)],
    ["note", f.note || "—"],
    ["marks", marksSummary(f.marks ?? [])],
  ];
}

function column(
  testid: string,
  title: string,
  rows: Row[],
  other: Row[],
  subtitle: string,
  marksDiffer: boolean,
): HTMLElement {
  const dl = h("dl");
  rows.forEach(([label, value], i) => {
    const differs = other[i]?.[1] !== value || (label === "marks" && marksDiffer);
    dl.append(h("dt", {}, label), h("dd", { className: differs ? "differs" : "" }, value));
  });
  return h("section", { className: "conflict-side", dataset: { testid } }, h("h3", {}, title), h("p", { className: "muted" }, subtitle), dl);
}

export class ConflictDialog {
  readonly el: HTMLElement;
  private current: SaveConflict | null = null;
  private readonly queue: SaveConflict[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly store: FindingStore,
    container: HTMLElement = document.body,
    private readonly describe: (c: SaveConflict) => string = defaultTitle,
  ) {
    this.el = h("div", { className: "conflict-backdrop", hidden: true });
    container.append(this.el);
    this.unsubscribe.push(store.onConflict((c) => this.push(c)));
    this.unsubscribe.push(store.on("resolved", ({ key }) => this.dropKey(key)));
    for (const c of store.conflicts()) this.push(c);
  }

  get open(): boolean {
    return this.current !== null;
  }

  private push(conflict: SaveConflict): void {
    if (this.current?.key === conflict.key) this.current = conflict;
    else if (!this.queue.some((c) => c.key === conflict.key)) this.queue.push(conflict);
    if (!this.current) this.current = this.queue.shift() ?? null;
    this.render();
  }

  private dropKey(key: string): void {
    const i = this.queue.findIndex((c) => c.key === key);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.current?.key === key) this.current = this.queue.shift() ?? null;
    this.render();
  }

  keepMine(): void {
    if (this.current) this.store.keepMine(this.current.key);
  }

  takeTheirs(): void {
    if (this.current) this.store.takeTheirs(this.current.key);
  }

  private render(): void {
    const c = this.current;
    this.el.hidden = !c;
    if (!c) {
      this.el.replaceChildren();
      return;
    }
    const mine = conflictRows(c.kind, c.mine, c.mineDeleted);
    const theirs = conflictRows(c.kind, c.theirs);
    const theirMarks = c.theirs && "marks" in c.theirs ? marksDetail(c.theirs.marks) : "";
    const myMarks = "marks" in c.mine ? marksDetail(c.mine.marks) : "";
    const marksDiffer = theirMarks !== myMarks;
    const who = c.theirs && "updated_by" in c.theirs && c.theirs.updated_by != null ? ` by user ${c.theirs.updated_by}` : "";
    const when = c.theirs?.updated_at ? ` at ${new Date(c.theirs.updated_at).toLocaleTimeString()}` : "";
    const keep = h("button", { className: "primary", dataset: { action: "keep-mine" }, on: { click: () => this.keepMine() } }, "Keep mine");
    const take = h("button", { dataset: { action: "take-theirs" }, on: { click: () => this.takeTheirs() } }, "Take theirs");
    const dialog = h(
      "div",
      { className: "conflict", role: "alertdialog", "aria-modal": "true", dataset: { testid: "conflict", key: c.key } },
      h("h2", {}, this.describe(c)),
      h(
        "p",
        {},
        `${c.message.replace(/^detail:\s*/, "")} Nothing is lost: keep mine saves your changes on top of theirs (what you did not change keeps their value); take theirs shows their version, and undo brings yours back.`,
      ),
      h(
        "div",
        { className: "conflict-columns" },
        column("conflict-mine", "Mine", mine, theirs, "your unsaved version", marksDiffer),
        column("conflict-theirs", "Theirs", theirs, mine, `version ${c.theirs?.version ?? "—"}${who}${when}`, marksDiffer),
      ),
      h("div", { className: "conflict-actions" }, keep, take, this.queue.length ? h("span", { className: "muted" }, `${this.queue.length} more after this`) : null),
    );
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape") event.stopPropagation(); // the choice cannot be skipped
    });
    this.el.replaceChildren(dialog);
    keep.focus();
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
    this.el.remove();
  }
}

function defaultTitle(c: SaveConflict): string {
  if (c.kind === "label") return "Exam labels changed by someone else";
  return "This finding was changed by someone else";
}
