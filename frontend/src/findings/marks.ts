/** Marks between the reader's copy and the server: client keys, the payload a save sends, and
 * the ids the server gave to the marks of a save. */

import type { Finding, FindingFields, Mark } from "./types";

let counter = 0;

/** A fresh client key (unique in this page). */
export function newKey(prefix: string): string {
  counter += 1;
  return `${prefix}${counter}`;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Marks as loaded from the server, each with a stable client key. */
export function withKeys(marks: Mark[], previous: Mark[] = []): Mark[] {
  const byId = new Map(previous.filter((m) => m.id != null).map((m) => [m.id, m.key]));
  return marks.map((m) => ({ ...clone(m), key: byId.get(m.id) ?? m.key ?? `m${m.id ?? newKey("n")}` }));
}

/** The editable fields of a stored finding (marks keyed, keeping keys of `previous`). */
export function fieldsOf(finding: Finding, previous?: FindingFields): FindingFields {
  return {
    finding_type: finding.finding_type ?? "",
    birads: finding.birads ?? "",
    pathology: finding.pathology ?? "",
    laterality: finding.laterality ?? "",
    attributes: clone(finding.attributes ?? {}),
    note: finding.note ?? "",
    marks: withKeys(finding.marks ?? [], previous?.marks),
  };
}

/** The marks of a save: ids only for marks the server still has (an undone removal or the
 * other side of a conflict may name marks it has deleted: those go as new marks, with their
 * mask image from `masks` when they are masks). */
export function marksPayload(
  marks: Mark[],
  serverIds: Set<number>,
  masks: Map<number, string>,
): Record<string, unknown>[] {
  return marks.map((m) => {
    const out: Record<string, unknown> = {
      kind: m.kind,
      frame: m.frame ?? 0,
      geometry: m.geometry,
    };
    if (m.slide != null) out.slide = m.slide;
    else out.image = m.image ?? null;
    const kept = m.id != null && serverIds.has(m.id);
    if (kept) out.id = m.id;
    let png = m.mask_png_base64;
    if (!png && !kept && m.kind === "mask" && m.id != null) png = masks.get(m.id);
    if (png) out.mask_png_base64 = png;
    return out;
  });
}

/** Match the marks of a save to the marks the server answered with, by client key.
 *
 * Kept marks keep their ids; the server creates the others in the order sent, so they are the
 * answer's marks with ids not sent, in ascending id order (marks are ordered by id). */
export function matchSavedMarks(
  sent: Record<string, unknown>[],
  sentKeys: (string | undefined)[],
  saved: Mark[],
): Map<string, Mark> {
  const sentIds = new Set(sent.map((m) => m.id).filter((id) => id != null));
  const fresh = saved.filter((m) => m.id == null || !sentIds.has(m.id)).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  const byId = new Map(saved.map((m) => [m.id, m]));
  const out = new Map<string, Mark>();
  let next = 0;
  sent.forEach((m, i) => {
    const key = sentKeys[i];
    const match = m.id != null ? byId.get(m.id as number) : fresh[next++];
    if (key && match) out.set(key, match);
  });
  return out;
}

/** Give the marks of `fields` the ids the server assigned, and drop mask images the server now
 * stores (a later save sends the mark's id instead of the image again). */
export function applySavedMarks(
  fields: FindingFields,
  matches: Map<string, Mark>,
  sentMasks: Map<string, string>,
): void {
  for (const mark of fields.marks) {
    const match = mark.key ? matches.get(mark.key) : undefined;
    if (!match) continue;
    if (mark.id == null) mark.id = match.id;
    if (mark.id !== match.id) continue;
    if (mark.mask_png_base64 && mark.mask_png_base64 === sentMasks.get(mark.key ?? "")) {
      delete mark.mask_png_base64;
      if (match.mask_url) mark.mask_url = match.mask_url;
    }
  }
}
