/** The hanging protocol: which image goes into which viewport, and which way it faces.
 *
 * A four-view mammogram hangs as R-CC, L-CC, R-MLO, L-MLO with the breasts back to back: the
 * right breast's chest wall on the right edge of its viewport and the left breast's on the left,
 * so the two chest walls face each other in the middle of each pair. Other exams hang as a stack
 * (MR series: one viewport scrolling through the slices) or one viewport per image.
 */

import type { ExamDetail, ImageInfo } from "./types";

export type MammoSlot = "R-CC" | "L-CC" | "R-MLO" | "L-MLO";
export const MAMMO_SLOTS: readonly MammoSlot[] = ["R-CC", "L-CC", "R-MLO", "L-MLO"];

/** Where the chest wall lies in the stored pixels, when it can be told. */
export type ChestWallSide = "left" | "right" | "unknown";

export interface HangingSlot {
  /** The viewport's name: a mammographic slot, "single", "stack", or "image-N". */
  slot: string;
  /** The images shown in the viewport (more than one: a stack to scroll through). */
  images: ImageInfo[];
  laterality: "R" | "L" | "";
}

export interface Hanging {
  layout: "mammo" | "stack" | "grid";
  slots: HangingSlot[];
}

/** The name a reader sees for a slot: the mammographic view as hung ("R-CC"), otherwise the
 * image's modality, side and view ("US R"), numbered when the exam has several; never the
 * slot's internal name ("single", "stack-2"). */
export function slotTitle(slot: HangingSlot): string {
  if ((MAMMO_SLOTS as readonly string[]).includes(slot.slot)) return slot.slot;
  const first = slot.images[0];
  const parts = first ? [first.modality, first.laterality, first.view].filter(Boolean) : [];
  const number = /-(\d+)$/.exec(slot.slot)?.[1];
  return [parts.join(" ") || "image", number ? `(${number})` : ""].filter(Boolean).join(" ");
}

/** The mammographic view code (CC, MLO, ML, LM, XCCL, ...) normalised; "" when unknown. */
export function viewCode(view: string): string {
  const v = view.trim().toUpperCase().replace(/[\s_-]+/g, "");
  if (!v) return "";
  if (v === "CC" || v === "CRANIOCAUDAL" || v === "XCCL" || v === "XCCM" || v === "FB") return "CC";
  if (v === "MLO" || v === "MEDIOLATERALOBLIQUE" || v === "ML" || v === "LM" || v === "LMO") {
    return "MLO";
  }
  return v;
}

function side(laterality: string): "R" | "L" | "" {
  const l = laterality.trim().toUpperCase();
  return l === "R" || l === "L" ? l : "";
}

function imageOrder(a: ImageInfo, b: ImageInfo): number {
  return (a.instance_number ?? 0) - (b.instance_number ?? 0) || a.id - b.id;
}

/** The images of an exam in display order (series, then instance number). */
export function examImages(exam: ExamDetail): ImageInfo[] {
  return [...exam.series]
    .sort((a, b) => (a.number ?? 0) - (b.number ?? 0) || a.id - b.id)
    .flatMap((s) => [...s.images].sort(imageOrder));
}

/** The mammographic slot an image belongs in, or null when it has no laterality/view. */
export function mammoSlotOf(image: ImageInfo): MammoSlot | null {
  const lat = side(image.laterality);
  const view = viewCode(image.view);
  if (!lat || (view !== "CC" && view !== "MLO")) return null;
  return `${lat}-${view}` as MammoSlot;
}

/** Lay out the images of an exam.
 *
 * Mammography (at least two images with laterality and CC/MLO view) gets the four slots, each
 * filled by the first matching image; MR (many single-frame images in a series) gets one stack
 * viewport per series; anything else one viewport per image ("single" when there is only one).
 */
export function hangImages(images: ImageInfo[]): Hanging {
  const mammo = images.filter((im) => im.modality === "MG" && mammoSlotOf(im) !== null);
  if (mammo.length >= 2 || (mammo.length >= 1 && images.every((im) => im.modality === "MG"))) {
    const slots = MAMMO_SLOTS.map((slot): HangingSlot => {
      const image = mammo.find((im) => mammoSlotOf(im) === slot);
      return { slot, images: image ? [image] : [], laterality: slot.startsWith("R") ? "R" : "L" };
    });
    return { layout: "mammo", slots };
  }
  const bySeries = new Map<number, ImageInfo[]>();
  for (const im of images) bySeries.set(im.series, [...(bySeries.get(im.series) ?? []), im]);
  const stacks = [...bySeries.values()].filter(
    (group) => group.length > 2 && group.every((im) => im.frame_count <= 1),
  );
  if (stacks.length > 0 && stacks.length === bySeries.size) {
    return {
      layout: "stack",
      slots: stacks.map((group, i) => ({
        slot: i === 0 ? "stack" : `stack-${i + 1}`,
        images: group,
        laterality: side(group[0]!.laterality),
      })),
    };
  }
  if (images.length === 1) {
    return {
      layout: "grid",
      slots: [{ slot: "single", images, laterality: side(images[0]!.laterality) }],
    };
  }
  return {
    layout: "grid",
    slots: images.map((im, i) => ({
      slot: i === 0 ? "single" : `image-${i + 1}`,
      images: [im],
      laterality: side(im.laterality),
    })),
  };
}

/** Whether to mirror an image so its chest wall faces the middle: right breasts show their chest
 * wall on the right edge of the viewport, left breasts on the left. */
export function needsFlip(laterality: string, chestWall: ChestWallSide): boolean {
  const lat = side(laterality);
  if (!lat || chestWall === "unknown") return false;
  return lat === "R" ? chestWall === "left" : chestWall === "right";
}

/** Which edge of a mammogram holds the chest wall: the breast is attached along it, so the
 * column strip there carries far more tissue signal than the strip at the other edge (air).
 * `pixels` is row-major, one sample per pixel; MONOCHROME1 images (tissue dark) pass
 * `tissueIsBright` false. */
export function chestWallSide(
  pixels: ArrayLike<number>,
  rows: number,
  columns: number,
  tissueIsBright = true,
  strip = 0.1,
): ChestWallSide {
  const width = Math.max(1, Math.round(columns * strip));
  let left = 0;
  let right = 0;
  const step = Math.max(1, Math.floor(rows / 256));
  for (let y = 0; y < rows; y += step) {
    const base = y * columns;
    for (let x = 0; x < width; x++) {
      left += pixels[base + x]!;
      right += pixels[base + columns - 1 - x]!;
    }
  }
  if (left === right) return "unknown";
  const ratio = Math.max(left, right) / Math.max(1, Math.min(left, right));
  if (ratio < 1.2) return "unknown";
  return left > right === tissueIsBright ? "left" : "right";
}
