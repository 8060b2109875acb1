import { describe, expect, it } from "vitest";
import { capsuleRun, paintStroke, type StrokePoint } from "../../src/viewer/strokeRaster";

/** The stroke by definition: each pixel centre within the radius (per axis) of the path. */
function bruteForce(columns: number, rows: number, points: StrokePoint[], rx: number, ry: number): Uint8Array {
  const out = new Uint8Array(columns * rows);
  const unit = points.map((p) => ({ x: p.x / rx, y: p.y / ry }));
  const pairs = unit.length === 1 ? [[unit[0]!, unit[0]!]] : unit.slice(1).map((b, i) => [unit[i]!, b]);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const p = { x: x / rx, y: y / ry };
      const inside = pairs.some(([a, b]) => {
        const vx = b!.x - a!.x;
        const vy = b!.y - a!.y;
        const len2 = vx * vx + vy * vy;
        const t = len2 ? Math.max(0, Math.min(1, ((p.x - a!.x) * vx + (p.y - a!.y) * vy) / len2)) : 0;
        return Math.hypot(p.x - (a!.x + t * vx), p.y - (a!.y + t * vy)) <= 1;
      });
      if (inside) out[y * columns + x] = 1;
    }
  }
  return out;
}

function count(labels: ArrayLike<number>, value: number): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === value) n++;
  return n;
}

/** A small deterministic generator (the same strokes on every run). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 4294967296;
  };
}

describe("a brush stroke written into a labelmap", () => {
  it("paints a click as a disc of the brush radius", () => {
    const labels = new Uint8Array(20 * 20);

    const result = paintStroke(labels, 20, 20, [{ x: 10, y: 10 }], { radiusX: 3, radiusY: 3, value: 2 });

    // The integer points within distance 3 of a centre: 29.
    expect(result.changed).toBe(29);
    expect(count(labels, 2)).toBe(29);
    expect(result.box).toEqual({ x: 7, y: 7, width: 7, height: 7 });
    expect(labels[10 * 20 + 13]).toBe(2);
    expect(labels[13 * 20 + 13]).toBe(0);
  });

  it("sweeps the brush along the path: a horizontal drag is a capsule", () => {
    const labels = new Uint8Array(40 * 20);

    const result = paintStroke(labels, 40, 20, [{ x: 5, y: 10 }, { x: 15, y: 10 }, { x: 30, y: 10 }], { radiusX: 4, radiusY: 4, value: 1 });

    expect(result.box).toEqual({ x: 1, y: 6, width: 34, height: 9 });
    // Every pixel between the ends within 4 rows of the path, and the discs at both ends.
    for (let x = 5; x <= 30; x++) for (let y = 6; y <= 14; y++) expect(labels[y * 40 + x]).toBe(1);
    expect(labels[10 * 40 + 34]).toBe(1);
    expect(labels[10 * 40 + 35]).toBe(0);
    expect(labels[5 * 40 + 20]).toBe(0);
    expect(Array.from(labels)).toEqual(Array.from(bruteForce(40, 20, [{ x: 5, y: 10 }, { x: 30, y: 10 }], 4, 4)));
  });

  it("matches the definition for random strokes, with pixels that are not square", () => {
    const next = random(16);
    for (let trial = 0; trial < 25; trial++) {
      const columns = 30 + Math.floor(next() * 40);
      const rows = 30 + Math.floor(next() * 40);
      const points = Array.from({ length: 1 + Math.floor(next() * 8) }, () => ({
        x: next() * (columns + 10) - 5,
        y: next() * (rows + 10) - 5,
      }));
      const rx = 1 + next() * 9;
      const ry = 1 + next() * 9;
      const labels = new Uint8Array(columns * rows);

      const result = paintStroke(labels, columns, rows, points, { radiusX: rx, radiusY: ry, value: 1 });

      const expected = bruteForce(columns, rows, points, rx, ry);
      expect(Array.from(labels), `trial ${trial}`).toEqual(Array.from(expected));
      expect(result.changed).toBe(count(expected, 1));
    }
  });

  it("paints over other segments but leaves locked ones and its own pixels as they are", () => {
    const labels = new Uint8Array(10 * 1);
    labels.set([3, 3, 5, 5, 1, 1, 0, 0, 0, 0]);

    const result = paintStroke(labels, 10, 1, [{ x: 0, y: 0 }, { x: 9, y: 0 }], { radiusX: 1, radiusY: 1, value: 1, locked: new Set([5]) });

    expect(Array.from(labels)).toEqual([1, 1, 5, 5, 1, 1, 1, 1, 1, 1]);
    expect(result.changed).toBe(6);
    expect(result.box).toEqual({ x: 0, y: 0, width: 10, height: 1 });
  });

  it("erases with 0 except in locked segments, and counts only what changed", () => {
    const labels = new Uint8Array(6 * 1);
    labels.set([2, 2, 7, 0, 2, 2]);

    const result = paintStroke(labels, 6, 1, [{ x: 1, y: 0 }, { x: 3, y: 0 }], { radiusX: 1, radiusY: 1, value: 0, locked: new Set([7]) });

    expect(Array.from(labels)).toEqual([0, 0, 7, 0, 0, 2]);
    expect(result.changed).toBe(3);
    expect(result.box).toEqual({ x: 0, y: 0, width: 5, height: 1 });
  });

  it("keeps to the labelmap at its edges and changes nothing without a path or a radius", () => {
    const labels = new Uint8Array(8 * 8);

    expect(paintStroke(labels, 8, 8, [{ x: -1, y: -1 }], { radiusX: 2.5, radiusY: 2.5, value: 1 }).box).toEqual({ x: 0, y: 0, width: 2, height: 2 });
    expect(paintStroke(labels, 8, 8, [], { radiusX: 2, radiusY: 2, value: 1 }).changed).toBe(0);
    expect(paintStroke(labels, 8, 8, [{ x: 4, y: 4 }], { radiusX: 0, radiusY: 2, value: 1 }).changed).toBe(0);
    expect(paintStroke(labels, 8, 8, [{ x: 40, y: 40 }], { radiusX: 2, radiusY: 2, value: 1 }).changed).toBe(0);
  });

  it("crosses a unit capsule in one run per line", () => {
    expect(capsuleRun({ x: 0, y: 0 }, { x: 4, y: 0 }, 0)).toEqual([-1, 5]);
    expect(capsuleRun({ x: 0, y: 0 }, { x: 4, y: 0 }, 1)).toEqual([0, 4]);
    expect(capsuleRun({ x: 0, y: 0 }, { x: 4, y: 0 }, 1.01)).toBeNull();
    const run = capsuleRun({ x: 0, y: 0 }, { x: 0, y: 4 }, 2)!;
    expect(run[0]).toBeCloseTo(-1);
    expect(run[1]).toBeCloseTo(1);
  });
});
