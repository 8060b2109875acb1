/** FindingStore: the reader's findings and exam labels of one exam (or one slide), saved in the
 * background so that no change is ever lost.
 *
 * - Every change is applied locally at once and saved after a short pause (debounced autosave);
 *   a save sends the version last seen, and the server answers with version + 1.
 * - HTTP 409 (someone saved first) keeps both versions, mine and the server's `detail.current`,
 *   and emits a conflict: the reader keeps mine (saved again on top of the current version) or
 *   takes theirs. The entry does not save again until then.
 * - A network error or a 5xx keeps the change and retries with a growing pause.
 * - Undo and redo work per change (a drag can be merged into one step with `coalesce`).
 *
 * Entries are addressed by a client key that never changes (a new finding has no server id
 * until its first save; a deleted one that is undone is created again with a new id).
 */

import { ApiError, type Api } from "../api";
import { Emitter } from "./emitter";
import {
  applySavedMarks,
  clone,
  fieldsOf,
  marksPayload,
  matchSavedMarks,
  newKey,
  withKeys,
} from "./marks";
import {
  emptyFindingFields,
  emptyLabelFields,
  type ExamLabel,
  type Finding,
  type FindingFields,
  type LabelFields,
  type LabelLaterality,
  type Mark,
  type SaveState,
} from "./types";

export type EntryKind = "finding" | "label";

/** A finding as the page shows it: the reader's current copy with its server identity. */
export interface FindingView extends FindingFields {
  key: string;
  id: number | null;
  version: number;
  source: "human" | "reference";
  dirty: boolean;
  conflict: boolean;
  error: string | null;
}

/** Two versions of one entry after HTTP 409: nothing is dropped until the reader chooses. */
export interface SaveConflict {
  key: string;
  kind: EntryKind;
  /** The reader's version (what the failed save sent, with any later edits). */
  mine: FindingFields | LabelFields;
  mineDeleted: boolean;
  /** The stored version (null when it was deleted by someone else). */
  theirs: Finding | ExamLabel | null;
  /** The stored version my edit started from (a field I did not change takes theirs). */
  base: Finding | ExamLabel | null;
  message: string;
}

export interface StoreStatus {
  state: SaveState;
  message: string;
  pending: number;
}

interface StoreEvents {
  [name: string]: unknown;
  change: void;
  /** Unsaved work found in the browser on load and put back (how many findings and labels). */
  restored: { count: number };
  state: StoreStatus;
  conflict: SaveConflict;
  resolved: { key: string };
}

export interface FindingStoreOptions {
  exam: number;
  /** Only findings with a mark on this slide (the slide page). */
  slide?: number;
  /** The signed-in reader: their own exam labels are the editable ones. */
  userId?: number;
  debounceMs?: number;
  maxRetryMs?: number;
  /** Reads a stored mask PNG (a mask removed on the server can be restored by undo). */
  fetchBinary?: (url: string) => Promise<Blob>;
  /** Where unsaved work is kept until the server has it (default: the browser's localStorage;
   * null: nowhere). */
  storage?: DraftStorage | null;
}

/** The part of the Web Storage API the store uses for its local copy of unsaved work. */
export interface DraftStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** One entry not yet on the server, as kept in the browser (see FindingStore.persist). */
interface DraftEntry {
  key: string;
  kind: EntryKind;
  laterality: LabelLaterality;
  id: number | null;
  version: number;
  gone: boolean;
  deleted: boolean;
  local: Fields;
}

interface Draft {
  format: 1;
  saved_at: string;
  entries: DraftEntry[];
}

type Fields = FindingFields | LabelFields;

interface Snapshot {
  local: Fields;
  deleted: boolean;
}

interface Step {
  key: string;
  before: Snapshot;
  after: Snapshot;
  tag?: string;
  at: number;
}

interface Entry {
  key: string;
  kind: EntryKind;
  laterality: LabelLaterality;
  id: number | null;
  version: number;
  source: "human" | "reference";
  server: Finding | ExamLabel | null;
  local: Fields;
  deleted: boolean;
  /** The server no longer has it (deleted there): saving it again creates it anew. */
  gone: boolean;
  revision: number;
  savedRevision: number;
  timer: ReturnType<typeof setTimeout> | null;
  inFlight: boolean;
  saving: Promise<void> | null;
  attempts: number;
  error: string | null;
  conflict: SaveConflict | null;
}

const COALESCE_MS = 1500;

function retryable(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true;
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class FindingStore {
  private readonly entries = new Map<string, Entry>();
  private readonly undoStack: Step[] = [];
  private readonly redoStack: Step[] = [];
  private readonly events = new Emitter<StoreEvents>();
  private readonly masks = new Map<number, string>();
  /** The pixels of stored mask files by their address (a mask's mask_url names its file): an
   * undo or redo that brings back a mask the server has since replaced sends them again. */
  private readonly maskFiles = new Map<string, string>();
  private lastStatus: StoreStatus = { state: "saved", message: "", pending: 0 };
  readonly debounceMs: number;
  readonly maxRetryMs: number;
  private readonly storage: DraftStorage | null;
  /** How many entries the last load took from the browser's copy of unsaved work. */
  restoredCount = 0;
  /** Labels of other readers and imported ground truth (read only). */
  otherLabels: ExamLabel[] = [];

  constructor(
    private readonly api: Api,
    readonly options: FindingStoreOptions,
  ) {
    this.debounceMs = options.debounceMs ?? 800;
    this.maxRetryMs = options.maxRetryMs ?? 30_000;
    this.storage = options.storage !== undefined ? options.storage : defaultStorage();
  }

  /** The localStorage key of this reader's unsaved work on this exam (or slide). */
  get draftKey(): string {
    const { exam, slide, userId } = this.options;
    return `senolab:unsaved:exam:${exam}${slide != null ? `:slide:${slide}` : ""}:user:${userId ?? "anonymous"}`;
  }

  // --- events ---------------------------------------------------------------------------

  on<K extends keyof StoreEvents & string>(
    name: K,
    listener: (value: StoreEvents[K]) => void,
  ): () => void {
    return this.events.on(name, listener);
  }

  /** Called with both versions whenever a save meets a newer one (HTTP 409). */
  onConflict(listener: (conflict: SaveConflict) => void): () => void {
    return this.events.on("conflict", listener);
  }

  // --- loading --------------------------------------------------------------------------

  /** Read the exam's (or slide's) findings and exam labels; replaces what the store held. */
  async load(): Promise<void> {
    const { exam, slide } = this.options;
    const [findings, labels] = await Promise.all([
      this.api.all<Finding>("/api/findings/", { exam, slide }),
      this.api.get<ExamLabel[]>("/api/exam-labels/", { exam }),
    ]);
    this.entries.clear();
    this.undoStack.length = 0;
    this.redoStack.length = 0;
    for (const finding of findings) {
      const key = `f${finding.id}`;
      this.entries.set(key, this.entryFromFinding(key, finding));
    }
    this.otherLabels = [];
    for (const label of labels) {
      const own = label.source === "human" && label.author === this.options.userId;
      if (!own) {
        this.otherLabels.push(label);
        continue;
      }
      this.entries.set(`label:${label.laterality}`, this.entryFromLabel(label));
    }
    this.restoredCount = this.restoreDraft();
    this.events.emit("change", undefined);
    this.emitStatus();
    if (this.restoredCount) this.events.emit("restored", { count: this.restoredCount });
  }

  // --- the local copy of unsaved work -----------------------------------------------------

  /** Keep every entry the server does not have yet in the browser (a failed save is never the
   * only copy of a reader's work); forget the copy once everything is saved. */
  private persist(): void {
    if (!this.storage) return;
    const entries: DraftEntry[] = [];
    for (const e of this.entries.values()) {
      if (e.revision === e.savedRevision && !e.error && !e.conflict) continue;
      if (e.kind === "finding" && e.deleted && (e.id === null || e.gone)) continue; // nothing to keep
      const local = clone(e.local);
      if (e.kind === "finding") {
        for (const mark of (local as FindingFields).marks) {
          if (mark.kind === "mask" && !mark.mask_png_base64 && mark.id != null && this.masks.has(mark.id)) {
            mark.mask_png_base64 = this.masks.get(mark.id);
          }
        }
      }
      entries.push({ key: e.key, kind: e.kind, laterality: e.laterality, id: e.id, version: e.version, gone: e.gone, deleted: e.deleted, local });
    }
    try {
      if (entries.length === 0) this.storage.removeItem(this.draftKey);
      else this.storage.setItem(this.draftKey, JSON.stringify({ format: 1, saved_at: new Date().toISOString(), entries } satisfies Draft));
    } catch (err) {
      console.error("The unsaved work could not be kept in this browser", err);
    }
  }

  /** Put back the unsaved work a previous page left in the browser; each restored entry is
   * saved again (on top of the version it started from: a newer one on the server is a
   * conflict for the reader to settle). Returns how many entries came back. */
  private restoreDraft(): number {
    let draft: Draft | null = null;
    try {
      const text = this.storage?.getItem(this.draftKey);
      draft = text ? (JSON.parse(text) as Draft) : null;
    } catch {
      draft = null;
    }
    if (!draft || draft.format !== 1 || !Array.isArray(draft.entries)) return 0;
    let count = 0;
    for (const d of draft.entries) {
      let entry: Entry | undefined;
      if (d.kind === "label") {
        entry = this.entries.get(d.key) ?? this.blankEntry(d.key, "label", d.laterality);
        entry.local = clone(d.local);
        entry.version = d.version;
      } else {
        const stored = d.id !== null && !d.gone ? this.entries.get(`f${d.id}`) : undefined;
        if (stored) {
          entry = stored;
          entry.version = d.version;
        } else {
          if (d.deleted) continue;
          entry = this.blankEntry(newKey("restored"), "finding", "");
          // Marks get keys of this page (a key of the old page may be taken by a new mark).
          entry.id = d.id;
          entry.gone = d.id !== null;
        }
        const local = clone(d.local) as FindingFields;
        local.marks = local.marks.map((m) => ({ ...m, key: m.id != null ? `m${m.id}` : newKey("r") }));
        entry.local = local;
        entry.deleted = d.deleted;
      }
      this.entries.set(entry.key, entry);
      entry.revision = entry.savedRevision + 1;
      this.schedule(entry, this.debounceMs);
      count += 1;
    }
    return count;
  }

  private entryFromFinding(key: string, finding: Finding): Entry {
    return {
      ...this.blankEntry(key, "finding", ""),
      id: finding.id,
      version: finding.version,
      source: finding.source,
      server: finding,
      local: fieldsOf(finding),
    };
  }

  private entryFromLabel(label: ExamLabel): Entry {
    return {
      ...this.blankEntry(`label:${label.laterality}`, "label", label.laterality),
      id: label.id,
      version: label.version,
      server: label,
      local: labelFieldsOf(label),
    };
  }

  private blankEntry(key: string, kind: EntryKind, laterality: LabelLaterality): Entry {
    return {
      key,
      kind,
      laterality,
      id: null,
      version: 0,
      source: "human",
      server: null,
      local: kind === "finding" ? emptyFindingFields() : emptyLabelFields(),
      deleted: false,
      gone: false,
      revision: 0,
      savedRevision: 0,
      timer: null,
      inFlight: false,
      saving: null,
      attempts: 0,
      error: null,
      conflict: null,
    };
  }

  // --- reading --------------------------------------------------------------------------

  /** The findings shown now (deleted ones left out), in creation order. */
  findings(): FindingView[] {
    return [...this.entries.values()]
      .filter((e) => e.kind === "finding" && !e.deleted)
      .map((e) => this.view(e));
  }

  get(key: string): FindingView | undefined {
    const entry = this.entries.get(key);
    return entry && entry.kind === "finding" && !entry.deleted ? this.view(entry) : undefined;
  }

  /** The key of the finding the server knows by `id`. */
  keyOf(id: number): string | undefined {
    for (const entry of this.entries.values()) if (entry.id === id && entry.kind === "finding") return entry.key;
    return undefined;
  }

  private view(entry: Entry): FindingView {
    return {
      ...(clone(entry.local) as FindingFields),
      key: entry.key,
      id: entry.gone ? null : entry.id,
      version: entry.version,
      source: entry.source,
      dirty: entry.revision !== entry.savedRevision,
      conflict: entry.conflict !== null,
      error: entry.error,
    };
  }

  /** The reader's own exam-level ("") or breast-level (L, R) label. */
  label(laterality: LabelLaterality = ""): LabelFields {
    const entry = this.entries.get(`label:${laterality}`);
    return entry ? (clone(entry.local) as LabelFields) : emptyLabelFields();
  }

  get status(): StoreStatus {
    return this.lastStatus;
  }

  get state(): SaveState {
    return this.lastStatus.state;
  }

  /** True while a change has not reached the server. */
  isDirty(): boolean {
    return [...this.entries.values()].some((e) => e.revision !== e.savedRevision || e.inFlight);
  }

  conflicts(): SaveConflict[] {
    return [...this.entries.values()].flatMap((e) => (e.conflict ? [e.conflict] : []));
  }

  // --- changing -------------------------------------------------------------------------

  /** A new finding (saved after the pause); returns its key. */
  create(fields: Partial<FindingFields> = {}): string {
    const key = newKey("new");
    const entry = this.blankEntry(key, "finding", "");
    entry.local = { ...emptyFindingFields(), ...clone(fields) };
    (entry.local as FindingFields).marks = withKeys((entry.local as FindingFields).marks);
    entry.deleted = true;
    this.entries.set(key, entry);
    this.change(entry, (e) => {
      e.deleted = false;
    });
    return key;
  }

  /** Change fields of a finding. `coalesce` merges repeated changes with the same tag (a drag,
   * typing a note) into one undo step. */
  update(key: string, patch: Partial<FindingFields>, options: { coalesce?: string } = {}): void {
    const entry = this.findingEntry(key);
    this.change(
      entry,
      (e) => {
        const local = e.local as FindingFields;
        Object.assign(local, clone(patch));
        if (patch.marks) local.marks = withKeys(local.marks);
      },
      options.coalesce,
    );
  }

  /** Add a mark to a finding; returns the mark's client key. */
  addMark(key: string, mark: Mark): string {
    const markKey = mark.key ?? newKey("k");
    const marks = [...(this.findingEntry(key).local as FindingFields).marks, { ...mark, key: markKey }];
    this.update(key, { marks });
    return markKey;
  }

  /** Change one mark (geometry after a drag, a redrawn mask). */
  updateMark(key: string, markKey: string, patch: Partial<Mark>, options: { coalesce?: string } = {}): void {
    const local = this.findingEntry(key).local as FindingFields;
    const marks = local.marks.map((m) => (m.key === markKey ? { ...m, ...patch, key: markKey } : m));
    this.update(key, { marks }, options);
  }

  removeMark(key: string, markKey: string): void {
    const local = this.findingEntry(key).local as FindingFields;
    this.update(key, { marks: local.marks.filter((m) => m.key !== markKey) });
  }

  /** Delete a finding (soft on the server; undo creates it again). */
  remove(key: string): void {
    this.change(this.findingEntry(key), (e) => {
      e.deleted = true;
    });
  }

  /** Set the reader's exam-level ("") or breast-level (L, R) labels. */
  setLabel(laterality: LabelLaterality, patch: Partial<LabelFields>): void {
    const key = `label:${laterality}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = this.blankEntry(key, "label", laterality);
      this.entries.set(key, entry);
    }
    this.change(entry, (e) => Object.assign(e.local, clone(patch)));
  }

  private findingEntry(key: string): Entry {
    const entry = this.entries.get(key);
    if (!entry || entry.kind !== "finding") throw new Error(`No finding ${key} in this store.`);
    return entry;
  }

  private snapshot(entry: Entry): Snapshot {
    return { local: clone(entry.local), deleted: entry.deleted };
  }

  private change(entry: Entry, apply: (entry: Entry) => void, tag?: string): void {
    const before = this.snapshot(entry);
    apply(entry);
    const after = this.snapshot(entry);
    const top = this.undoStack[this.undoStack.length - 1];
    const now = Date.now();
    if (tag && top && top.key === entry.key && top.tag === tag && now - top.at < COALESCE_MS) {
      top.after = after;
      top.at = now;
    } else {
      this.undoStack.push({ key: entry.key, before, after, tag, at: now });
    }
    this.redoStack.length = 0;
    this.touched(entry);
  }

  private touched(entry: Entry): void {
    entry.revision += 1;
    this.schedule(entry, this.debounceMs);
    this.persist();
    this.events.emit("change", undefined);
    this.emitStatus();
  }

  // --- undo and redo ----------------------------------------------------------------------

  canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Undo the last change; returns the key of the entry it touched. */
  undo(): string | undefined {
    return this.travel(this.undoStack, this.redoStack, "before");
  }

  redo(): string | undefined {
    return this.travel(this.redoStack, this.undoStack, "after");
  }

  private travel(from: Step[], to: Step[], side: "before" | "after"): string | undefined {
    const step = from.pop();
    if (!step) return undefined;
    const entry = this.entries.get(step.key);
    if (!entry) return undefined;
    const target = clone(step[side]);
    entry.local = target.local;
    entry.deleted = target.deleted;
    to.push({ ...step, tag: undefined });
    this.touched(entry);
    return entry.key;
  }

  // --- saving ---------------------------------------------------------------------------

  private schedule(entry: Entry, delay: number): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void this.save(entry);
    }, delay);
  }

  /** Save every pending change now (before leaving the page, or "next exam"). */
  async flush(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const pending = [...this.entries.values()].filter(
        (e) => (e.revision !== e.savedRevision && !e.conflict) || e.inFlight,
      );
      if (pending.length === 0) return;
      await Promise.all(
        pending.map((e) => {
          if (e.timer) clearTimeout(e.timer);
          e.timer = null;
          return e.inFlight ? this.waitIdle(e) : this.save(e);
        }),
      );
      if (pending.some((e) => e.error)) return;
    }
  }

  /** Retry the saves that failed now, without waiting for the backoff. */
  retry(): void {
    for (const entry of this.entries.values()) {
      if (entry.error && !entry.conflict && !entry.inFlight) this.schedule(entry, 0);
    }
  }

  private waitIdle(entry: Entry): Promise<void> {
    return entry.saving ?? Promise.resolve();
  }

  private save(entry: Entry): Promise<void> {
    if (entry.inFlight || entry.conflict || entry.revision === entry.savedRevision) {
      return this.waitIdle(entry);
    }
    entry.saving = this.saveNow(entry).finally(() => {
      entry.saving = null;
    });
    return entry.saving;
  }

  private async saveNow(entry: Entry): Promise<void> {
    const revision = entry.revision;
    entry.inFlight = true;
    this.emitStatus();
    try {
      if (entry.kind === "label") await this.saveLabel(entry);
      else await this.saveFinding(entry);
      entry.savedRevision = revision;
      entry.error = null;
      entry.attempts = 0;
    } catch (err) {
      this.failed(entry, err);
    } finally {
      entry.inFlight = false;
    }
    if (!entry.conflict && !entry.error && entry.revision !== entry.savedRevision && !entry.timer) {
      this.schedule(entry, this.debounceMs);
    }
    this.persist();
    this.events.emit("change", undefined);
    this.emitStatus();
  }

  private async saveFinding(entry: Entry): Promise<void> {
    const exists = entry.id !== null && !entry.gone;
    if (entry.deleted) {
      if (exists) {
        // Undo brings a deleted finding back as a new one: its masks go again with their pixels.
        await this.rememberRemovedMasks(entry.server as Finding | null, []);
        await this.api.request("DELETE", `/api/findings/${entry.id}/`, undefined, { version: entry.version });
        entry.version += 1;
      }
      entry.gone = true;
      return;
    }
    const sent = clone(entry.local) as FindingFields;
    const server = exists ? (entry.server as Finding | null) : null;
    const serverIds = new Set((server?.marks ?? []).map((m) => m.id as number));
    await this.rememberRemovedMasks(server, sent.marks);
    await this.rememberReplacedMasks(server, sent.marks);
    this.restoreReplacedMasks(entry, server, sent.marks);
    const marks = marksPayload(sent.marks, serverIds, this.masks);
    const body = {
      finding_type: sent.finding_type,
      birads: sent.birads,
      pathology: sent.pathology,
      laterality: sent.laterality,
      attributes: sent.attributes,
      note: sent.note,
      marks,
    };
    const saved = exists
      ? await this.api.patch<Finding>(`/api/findings/${entry.id}/`, { ...body, version: entry.version })
      : await this.api.post<Finding>("/api/findings/", { ...body, exam: this.options.exam });
    entry.id = saved.id;
    entry.gone = false;
    entry.version = saved.version;
    entry.source = saved.source;
    entry.server = saved;
    const matches = matchSavedMarks(marks, sent.marks.map((m) => m.key), saved.marks);
    const sentMasks = new Map(
      sent.marks.filter((m) => m.key && m.mask_png_base64).map((m) => [m.key as string, m.mask_png_base64 as string]),
    );
    // The pixels of every mask sent stay known by the mark's id: an undo that brings the mark
    // back after the server removed it (a deleted finding, a removed mark) sends them again.
    for (const [markKey, png] of sentMasks) {
      const match = matches.get(markKey);
      if (match?.id != null) this.masks.set(match.id, png);
      if (match?.mask_url) this.maskFiles.set(match.mask_url, png);
    }
    applySavedMarks(entry.local as FindingFields, matches, sentMasks);
    // Steps of the undo history name marks by key; give them the ids too, so an undo keeps marks.
    for (const step of [...this.undoStack, ...this.redoStack]) {
      if (step.key !== entry.key) continue;
      for (const snap of [step.before, step.after]) {
        applySavedMarks(snap.local as FindingFields, matches, new Map());
      }
    }
  }

  /** Keep the image of every stored mask this save removes: an undo may bring it back, and the
   * server forgets the file's address with the mark. */
  private async rememberRemovedMasks(server: Finding | null, marks: Mark[]): Promise<void> {
    const keep = new Set(marks.map((m) => m.id));
    const fetchBinary = this.options.fetchBinary;
    for (const mark of server?.marks ?? []) {
      if (mark.kind !== "mask" || keep.has(mark.id) || mark.id == null || this.masks.has(mark.id)) continue;
      if (!mark.mask_url || !fetchBinary) continue;
      try {
        this.masks.set(mark.id, await blobToBase64(await fetchBinary(mark.mask_url)));
      } catch {
        // Not fatal: the mark's removal is still what the reader asked for.
      }
    }
  }

  /** The pixels of a mask mark when this page knows them (base64 PNG): painted here and not
   * saved yet, or a file it saved or read before; else undefined (read it from mask_url). */
  maskImage(mark: Mark): string | undefined {
    return mark.mask_png_base64 ?? (mark.mask_url ? this.maskFiles.get(mark.mask_url) : undefined);
  }

  /** Keep the image of every stored mask this save repaints (the eraser, another stroke): an
   * undo may bring it back, and the server keeps only the mark's newest file. */
  private async rememberReplacedMasks(server: Finding | null, marks: Mark[]): Promise<void> {
    const fetchBinary = this.options.fetchBinary;
    const stored = new Map((server?.marks ?? []).map((m) => [m.id, m]));
    for (const mark of marks) {
      const current = mark.id != null ? stored.get(mark.id) : undefined;
      if (mark.kind !== "mask" || !mark.mask_png_base64 || !current?.mask_url) continue;
      if (this.maskFiles.has(current.mask_url) || !fetchBinary) continue;
      try {
        this.maskFiles.set(current.mask_url, await blobToBase64(await fetchBinary(current.mask_url)));
      } catch {
        // Not fatal: the new mask is still what the reader painted.
      }
    }
  }

  /** A mask mark that names an older file than the server's (an undo or redo across a save)
   * goes with that file's pixels, here and in the local copy (the save then matches them). */
  private restoreReplacedMasks(entry: Entry, server: Finding | null, sent: Mark[]): void {
    const stored = new Map((server?.marks ?? []).map((m) => [m.id, m]));
    const local = entry.local as FindingFields;
    for (const mark of sent) {
      if (mark.kind !== "mask" || mark.mask_png_base64 || mark.id == null || !mark.mask_url) continue;
      const current = stored.get(mark.id)?.mask_url;
      const png = this.maskFiles.get(mark.mask_url);
      if (!current || current === mark.mask_url || !png) continue;
      mark.mask_png_base64 = png;
      const mine = local.marks.find((m) => m.key === mark.key);
      if (mine && !mine.mask_png_base64 && mine.mask_url === mark.mask_url) mine.mask_png_base64 = png;
    }
  }

  private async saveLabel(entry: Entry): Promise<void> {
    const sent = clone(entry.local) as LabelFields;
    const saved = await this.api.put<ExamLabel>("/api/exam-labels/", {
      exam: this.options.exam,
      laterality: entry.laterality,
      version: entry.version,
      ...sent,
    });
    entry.id = saved.id;
    entry.version = saved.version;
    entry.server = saved;
  }

  private failed(entry: Entry, err: unknown): void {
    if (err instanceof ApiError && (err.status === 409 || (err.status === 404 && entry.kind === "finding"))) {
      const detail = err.detail as { current?: Finding | ExamLabel | null } | undefined;
      const theirs = err.status === 404 ? null : (detail?.current ?? null);
      entry.conflict = {
        key: entry.key,
        kind: entry.kind,
        mine: clone(entry.local),
        mineDeleted: entry.deleted,
        theirs: theirs ? clone(theirs) : null,
        base: entry.server && !entry.gone ? clone(entry.server) : null,
        message: err.message,
      };
      entry.error = null;
      this.events.emit("conflict", entry.conflict);
      return;
    }
    entry.error = messageOf(err);
    if (retryable(err)) {
      entry.attempts += 1;
      const delay = Math.min(1000 * 2 ** (entry.attempts - 1), this.maxRetryMs);
      this.schedule(entry, delay);
    }
  }

  // --- conflicts ------------------------------------------------------------------------

  /** Keep my version: save it again on top of the stored one (or create it again). */
  keepMine(key: string): void {
    const entry = this.entries.get(key);
    const conflict = entry?.conflict;
    if (!entry || !conflict) return;
    const theirs = conflict.theirs;
    if (!theirs || (entry.kind === "finding" && (theirs as Finding).deleted)) {
      entry.gone = true;
      entry.server = null;
    } else {
      entry.server = theirs;
      entry.version = theirs.version;
      entry.id = theirs.id;
      entry.gone = false;
      if (conflict.base) entry.local = mergeMine(entry.kind, entry.local, conflict.base, theirs, entry.local);
    }
    entry.conflict = null;
    this.events.emit("resolved", { key });
    entry.revision += 1; // save again even when nothing changed since the failed save
    this.schedule(entry, 0);
    this.events.emit("change", undefined);
    this.emitStatus();
  }

  /** Take their version: my copy becomes the stored one (mine stays in the undo history). */
  takeTheirs(key: string): void {
    const entry = this.entries.get(key);
    const conflict = entry?.conflict;
    if (!entry || !conflict) return;
    const theirs = conflict.theirs;
    const before = this.snapshot(entry);
    if (!theirs || (entry.kind === "finding" && (theirs as Finding).deleted)) {
      entry.deleted = true;
      entry.gone = true;
      if (theirs) entry.version = theirs.version;
    } else {
      entry.server = theirs;
      entry.version = theirs.version;
      entry.id = theirs.id;
      entry.gone = false;
      entry.deleted = false;
      entry.local =
        entry.kind === "finding"
          ? fieldsOf(theirs as Finding, entry.local as FindingFields)
          : labelFieldsOf(theirs as ExamLabel);
    }
    // Undo can bring mine back: it is then saved on top of theirs.
    this.undoStack.push({ key, before, after: this.snapshot(entry), at: Date.now() });
    this.redoStack.length = 0;
    entry.conflict = null;
    entry.error = null;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    entry.savedRevision = entry.revision;
    this.persist();
    this.events.emit("resolved", { key });
    this.events.emit("change", undefined);
    this.emitStatus();
  }

  // --- status ---------------------------------------------------------------------------

  private computeStatus(): StoreStatus {
    const entries = [...this.entries.values()];
    const pending = entries.filter((e) => e.revision !== e.savedRevision).length;
    const conflicts = entries.filter((e) => e.conflict);
    if (conflicts.length) {
      return { state: "conflict", message: "Someone else saved first: choose a version.", pending };
    }
    const failed = entries.find((e) => e.error);
    if (failed) {
      const kept = this.storage ? " Your work is kept in this browser until it is saved." : "";
      return { state: "error", message: `Not saved: ${failed.error}.${kept}`, pending };
    }
    if (entries.some((e) => e.inFlight)) return { state: "saving", message: "Saving…", pending };
    if (pending) return { state: "dirty", message: "Unsaved changes", pending };
    return { state: "saved", message: "All changes saved", pending };
  }

  private emitStatus(): void {
    const status = this.computeStatus();
    const last = this.lastStatus;
    this.lastStatus = status;
    if (status.state !== last.state || status.message !== last.message || status.pending !== last.pending) {
      this.events.emit("state", status);
    }
  }

  /** Ask before the page closes while changes are unsaved; returns the function that stops. */
  guardUnload(target: Window = window): () => void {
    const listener = (event: BeforeUnloadEvent) => {
      if (!this.isDirty() && !this.conflicts().length) return;
      void this.flush();
      event.preventDefault();
      event.returnValue = "";
    };
    target.addEventListener("beforeunload", listener);
    return () => target.removeEventListener("beforeunload", listener);
  }

  /** Stop every timer (the page is going away). */
  dispose(): void {
    for (const entry of this.entries.values()) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = null;
    }
  }
}

/** Mine on top of theirs: the fields I changed from `base` keep my value, the others take
 * theirs (a colleague's note survives my BI-RADS change). Marks count as one field. */
function mergeMine(kind: EntryKind, mine: Fields, base: Finding | ExamLabel, theirs: Finding | ExamLabel, previous: Fields): Fields {
  const baseFields: Fields = kind === "finding" ? fieldsOf(base as Finding) : labelFieldsOf(base as ExamLabel);
  const theirFields: Fields =
    kind === "finding" ? fieldsOf(theirs as Finding, previous as FindingFields) : labelFieldsOf(theirs as ExamLabel);
  const merged = clone(mine) as unknown as Record<string, unknown>;
  const b = baseFields as unknown as Record<string, unknown>;
  const t = theirFields as unknown as Record<string, unknown>;
  for (const name of Object.keys(merged)) {
    const same = name === "marks" ? sameMarks(merged[name] as Mark[], b[name] as Mark[]) : sameValue(merged[name], b[name]);
    if (same) merged[name] = t[name];
  }
  return merged as unknown as Fields;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function sameMarks(a: Mark[], b: Mark[]): boolean {
  const shape = (marks: Mark[]) =>
    marks.map((m) => [m.id ?? null, m.kind, m.image ?? null, m.slide ?? null, m.frame ?? 0, m.geometry, m.mask_png_base64 ?? null]);
  return sameValue(shape(a ?? []), shape(b ?? []));
}

function labelFieldsOf(label: ExamLabel): LabelFields {
  return {
    density: label.density ?? "",
    birads: label.birads ?? "",
    pathology: label.pathology ?? "",
    attributes: clone(label.attributes ?? {}),
  };
}

function defaultStorage(): DraftStorage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null; // storage blocked (privacy settings)
  }
}

function blobToBase64(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
