import { describe, expect, it } from "vitest";
import { cropSegment, pasteSegment, segmentBox } from "../../src/viewer/maskPng";

function labelmap(columns: number, rows: number, cells: [number, number, number][]): Uint8Array {
  const labels = new Uint8Array(columns * rows);
  for (const [x, y, v] of cells) labels[y * columns + x] = v;
  return labels;
}

describe("mask segments of a labelmap", () => {
  it("finds the box of one segment and ignores the others", () => {
    const labels = labelmap(10, 8, [[2, 3, 1], [5, 6, 1], [9, 0, 2]]);

    expect(segmentBox(labels, 10, 8, 1)).toEqual({ x: 2, y: 3, width: 4, height: 4 });
    expect(segmentBox(labels, 10, 8, 2)).toEqual({ x: 9, y: 0, width: 1, height: 1 });
    expect(segmentBox(labels, 10, 8, 3)).toBeNull();
  });

  it("crops a segment to its box and pastes it back at the same place", () => {
    const labels = labelmap(10, 8, [[2, 3, 1], [3, 3, 1], [3, 4, 1]]);
    const box = segmentBox(labels, 10, 8, 1)!;
    const crop = cropSegment(labels, 10, box, 1);

    const copy = new Uint8Array(labels.length);
    const painted = pasteSegment(copy, 10, 8, box, crop, 1);

    expect(Array.from(crop)).toEqual([1, 1, 0, 1]);
    expect(painted).toBe(3);
    expect(Array.from(copy)).toEqual(Array.from(labels));
  });

  it("replaces a segment's old pixels and leaves other segments alone when pasting", () => {
    const labels = labelmap(4, 4, [[0, 0, 1], [1, 1, 2]]);

    pasteSegment(labels, 4, 4, { x: 1, y: 1, width: 2, height: 1 }, [1, 1], 1);

    expect(labels[0]).toBe(0);
    expect(labels[1 * 4 + 1]).toBe(2);
    expect(labels[1 * 4 + 2]).toBe(1);
  });
});
