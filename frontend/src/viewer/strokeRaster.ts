/** A brush stroke written into a labelmap (pure: no DOM, no Cornerstone).
 *
 * The stroke is the pointer's path in image pixel coordinates (pixel centres at integer
 * coordinates, as Cornerstone's image index space) swept by the brush: every pixel whose centre
 * lies within the brush radius of the path. The radius may differ along x and y (pixels that
 * are not square); the swept shape of each step of the path is a capsule, which is convex, so
 * each pixel row crosses it in one run: the stroke is written row by row, run by run. */

export interface StrokePoint {
  x: number;
  y: number;
}

export interface StrokeOptions {
  /** The brush radius in pixels along x (columns) and y (rows). */
  radiusX: number;
  radiusY: number;
  /** What the stroke writes: a segment index, or 0 for the eraser. */
  value: number;
  /** Segments the stroke leaves as they are (imported reference masks). */
  locked?: ReadonlySet<number>;
}

/** How many pixels the stroke changed, and their box. */
export interface StrokeResult {
  changed: number;
  /** The box of the changed pixels, or null when nothing changed. */
  box: { x: number; y: number; width: number; height: number } | null;
}

/** Write the stroke into a row-major labelmap (`columns` x `rows`) in place. */
export function paintStroke(
  labels: { [i: number]: number; length: number },
  columns: number,
  rows: number,
  points: readonly StrokePoint[],
  options: StrokeOptions,
): StrokeResult {
  const { radiusX: rx, radiusY: ry, value } = options;
  const locked = options.locked ?? new Set<number>();
  const result: StrokeResult = { changed: 0, box: null };
  if (points.length === 0 || !(rx > 0) || !(ry > 0)) return result;
  // In units of the radius the brush is a unit circle and each step a unit capsule.
  const unit = points.map((p) => ({ x: p.x / rx, y: p.y / ry }));
  const steps = unit.length === 1 ? [[unit[0]!, unit[0]!] as const] : unit.slice(1).map((b, i) => [unit[i]!, b] as const);
  const top = Math.max(0, Math.ceil(Math.min(...points.map((p) => p.y)) - ry));
  const bottom = Math.min(rows - 1, Math.floor(Math.max(...points.map((p) => p.y)) + ry));
  let x0 = columns;
  let x1 = -1;
  let y0 = rows;
  let y1 = -1;
  const runs: [number, number][] = [];
  for (let row = top; row <= bottom; row++) {
    const c = row / ry;
    runs.length = 0;
    for (const [a, b] of steps) {
      if (c < Math.min(a.y, b.y) - 1 || c > Math.max(a.y, b.y) + 1) continue;
      const run = capsuleRun(a, b, c);
      if (run) runs.push([Math.max(0, Math.ceil(run[0] * rx)), Math.min(columns - 1, Math.floor(run[1] * rx))]);
    }
    runs.sort((p, q) => p[0] - q[0]);
    let end = -1;
    for (const [from, to] of runs) {
      for (let col = Math.max(from, end + 1); col <= to; col++) {
        const i = row * columns + col;
        const existing = labels[i]!;
        if (existing === value || locked.has(existing)) continue;
        labels[i] = value;
        result.changed++;
        if (col < x0) x0 = col;
        if (col > x1) x1 = col;
        if (row < y0) y0 = row;
        if (row > y1) y1 = row;
      }
      if (to > end) end = to;
    }
  }
  if (result.changed) result.box = { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  return result;
}

/** Where the line y = c crosses the unit capsule around the segment a-b: [xmin, xmax] or null.
 * The capsule is the union of the unit circles at a and b and the band between them; being
 * convex, its crossing is the hull of the three parts' crossings. */
export function capsuleRun(a: StrokePoint, b: StrokePoint, c: number): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of [a, b]) {
    const dy = c - p.y;
    if (dy * dy > 1) continue;
    const half = Math.sqrt(1 - dy * dy);
    lo = Math.min(lo, p.x - half);
    hi = Math.max(hi, p.x + half);
  }
  const length = Math.hypot(b.x - a.x, b.y - a.y);
  if (length > 1e-9) {
    const ux = (b.x - a.x) / length;
    const uy = (b.y - a.y) / length;
    const dy = c - a.y;
    // Along the segment: 0 <= (x - a.x) ux + dy uy <= length; across it: |-(x - a.x) uy + dy ux| <= 1.
    const along = solve(ux, dy * uy, 0, length);
    const across = solve(-uy, dy * ux, -1, 1);
    if (along && across) {
      const from = Math.max(along[0], across[0]);
      const to = Math.min(along[1], across[1]);
      if (from <= to) {
        lo = Math.min(lo, a.x + from);
        hi = Math.max(hi, a.x + to);
      }
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** The t with min <= k t + offset <= max: an interval, unbounded when k is 0, or null. */
function solve(k: number, offset: number, min: number, max: number): [number, number] | null {
  if (Math.abs(k) < 1e-12) return offset >= min && offset <= max ? [-Infinity, Infinity] : null;
  const t1 = (min - offset) / k;
  const t2 = (max - offset) / k;
  return t1 <= t2 ? [t1, t2] : [t2, t1];
}
