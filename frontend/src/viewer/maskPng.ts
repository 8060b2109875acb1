/** Mask <-> labelmap helpers (pure, except the PNG codec which needs a canvas).
 *
 * A mask mark is stored as a one-channel PNG of its bounding box plus the box
 * {x, y, width, height} in level-0 pixels (annotations/geometry.py mask_geometry); in the viewer
 * it is one segment index of the viewport's labelmap, which has the image's level-0 size. */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The bounding box of the pixels equal to `segment` in a row-major labelmap, or null. */
export function segmentBox(labels: ArrayLike<number>, columns: number, rows: number, segment: number): Box | null {
  let x0 = columns;
  let y0 = rows;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < rows; y++) {
    const base = y * columns;
    for (let x = 0; x < columns; x++) {
      if (labels[base + x] === segment) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** The 0/1 crop of one segment inside a box (row-major, box.width x box.height). */
export function cropSegment(labels: ArrayLike<number>, columns: number, box: Box, segment: number): Uint8Array {
  const out = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const src = (box.y + y) * columns + box.x;
    for (let x = 0; x < box.width; x++) out[y * box.width + x] = labels[src + x] === segment ? 1 : 0;
  }
  return out;
}

/** Write a 0/1 crop into the labelmap at its box as `segment` (pixels already of another
 * segment are left to it; pixels of this segment outside the crop are cleared first). */
export function pasteSegment(
  labels: { [i: number]: number; length: number },
  columns: number,
  rows: number,
  box: Box,
  crop: ArrayLike<number>,
  segment: number,
): number {
  for (let i = 0; i < labels.length; i++) if (labels[i] === segment) labels[i] = 0;
  let painted = 0;
  for (let y = 0; y < box.height; y++) {
    const row = box.y + y;
    if (row < 0 || row >= rows) continue;
    for (let x = 0; x < box.width; x++) {
      const col = box.x + x;
      if (col < 0 || col >= columns || !crop[y * box.width + x]) continue;
      const i = row * columns + col;
      if (labels[i] === 0) {
        labels[i] = segment;
        painted++;
      }
    }
  }
  return painted;
}

/** A 0/255 grey PNG (as a data: URL) of a 0/1 crop. */
export function encodeMaskPng(crop: ArrayLike<number>, width: number, height: number): string {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  // A canvas kept in main memory: a GPU canvas (the default) is read back from the GPU by
  // toDataURL, which took a second and more under software WebGL.
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  const data = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = crop[i] ? 255 : 0;
    data.data[i * 4] = v;
    data.data[i * 4 + 1] = v;
    data.data[i * 4 + 2] = v;
    data.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return canvas.toDataURL("image/png");
}

/** The 0/1 crop of a mask PNG (a URL, or a data: URL / bare base64 text). */
export async function decodeMaskPng(source: string): Promise<{ crop: Uint8Array; width: number; height: number }> {
  let blob: Blob;
  if (source.startsWith("/") || source.startsWith("http")) {
    const response = await fetch(source, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`The mask could not be read (${response.status}).`);
    blob = await response.blob();
  } else {
    // Pixels this page holds (painted here, or kept for an undo): decoded here, not fetched
    // (the pages' Content-Security-Policy allows fetches of their own origin only).
    const text = atob(source.startsWith("data:") ? source.slice(source.indexOf(",") + 1) : source);
    blob = new Blob([Uint8Array.from(text, (c) => c.charCodeAt(0))], { type: "image/png" });
  }
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const crop = new Uint8Array(bitmap.width * bitmap.height);
  for (let i = 0; i < crop.length; i++) crop[i] = rgba[i * 4]! > 127 ? 1 : 0;
  return { crop, width: bitmap.width, height: bitmap.height };
}
