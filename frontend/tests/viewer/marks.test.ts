import { describe, expect, it } from "vitest";
import {
  annotationToMark,
  markToPoints,
  sameGeometry,
  simplify,
  type Frame,
  type Point3,
} from "../../src/viewer/marks";

const frame: Frame = { spacing: [0.1, 0.2], columns: 300, rows: 400 };
const world = (x: number, y: number): Point3 => [x * 0.1, y * 0.2, 0];

describe("Cornerstone annotation -> API mark", () => {
  it("turns a rectangle's four corners into a box in level-0 pixels", () => {
    const mark = annotationToMark(
      { toolName: "RectangleROI", points: [world(10, 20), world(50, 20), world(10, 80), world(50, 80)] },
      frame,
    );

    expect(mark).toEqual({ kind: "box", geometry: { x: 10, y: 20, width: 40, height: 60 } });
  });

  it("turns an ellipse's four handles into centre and radii", () => {
    const mark = annotationToMark(
      { toolName: "EllipticalROI", points: [world(100, 130), world(100, 70), world(80, 100), world(120, 100)] },
      frame,
    );

    expect(mark).toEqual({ kind: "ellipse", geometry: { cx: 100, cy: 100, rx: 20, ry: 30 } });
  });

  it("keeps a polygon's corners and a freehand contour's polyline", () => {
    const corners = [world(1, 1), world(30, 1), world(30, 40)];
    const polygon = annotationToMark({ toolName: "Polygon", points: corners }, frame);
    const freehand = annotationToMark(
      { toolName: "PlanarFreehandROI", points: [], polyline: [...corners, world(1, 40)] },
      frame,
    );

    expect(polygon).toEqual({ kind: "polygon", geometry: { points: [[1, 1], [30, 1], [30, 40]] } });
    expect(freehand?.kind).toBe("freehand");
    expect(freehand?.geometry.points).toEqual([[1, 1], [30, 1], [30, 40], [1, 40]]);
  });

  it("clamps points dragged past the image edge onto the edge (the API refuses outside points)", () => {
    const mark = annotationToMark({ toolName: "Point", points: [world(-5, 450)] }, frame);

    expect(mark).toEqual({ kind: "point", geometry: { x: 0, y: 400 } });
  });

  it("drops degenerate shapes and tools that are not marks", () => {
    expect(annotationToMark({ toolName: "RectangleROI", points: [world(5, 5), world(5, 5)] }, frame)).toBeNull();
    expect(annotationToMark({ toolName: "Polygon", points: [world(1, 1), world(2, 2)] }, frame)).toBeNull();
    expect(annotationToMark({ toolName: "Angle", points: [world(1, 1)] }, frame)).toBeNull();
  });

  it("thins a contour longer than the API allows", () => {
    const long = Array.from({ length: 25_001 }, (_, i): [number, number] => [i, i]);

    const thinned = simplify(long, 10_000);

    expect(thinned.length).toBeLessThanOrEqual(10_000);
    expect(thinned[0]).toEqual([0, 0]);
  });
});

describe("API mark -> Cornerstone points, and back", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["box", { x: 12, y: 30, width: 40, height: 25 }],
    ["ellipse", { cx: 150, cy: 200, rx: 10, ry: 35 }],
    ["point", { x: 7, y: 9 }],
    ["length", { points: [[10, 10], [100, 200]] }],
    ["polygon", { points: [[5, 5], [60, 5], [60, 70], [5, 70]] }],
  ];

  it.each(cases)("a %s survives the round trip", (kind, geometry) => {
    const toolName = { box: "RectangleROI", ellipse: "EllipticalROI", point: "Point", length: "Length", polygon: "Polygon" }[kind]!;

    const points = markToPoints(kind as never, geometry, frame);
    const back = annotationToMark({ toolName, points: points! }, frame);

    expect(back?.kind).toBe(kind);
    expect(sameGeometry(back!.geometry, geometry)).toBe(true);
  });

  it("puts a freehand contour on the image plane z", () => {
    const points = markToPoints("freehand", { points: [[0, 0], [10, 0], [10, 10]] }, { ...frame, z: 3 });

    expect(points).toEqual([[0, 0, 3], [1, 0, 3], [1, 2, 3]]);
  });

  it("refuses geometry it cannot draw", () => {
    expect(markToPoints("box", { x: "a" }, frame)).toBeNull();
    expect(markToPoints("polygon", { points: [[1, 1]] }, frame)).toBeNull();
  });

  it("tells a moved mark from an echo of the same one", () => {
    expect(sameGeometry({ x: 1.001, y: 2 }, { y: 2, x: 1 })).toBe(true);
    expect(sameGeometry({ x: 1, y: 2 }, { x: 1, y: 4 })).toBe(false);
  });
});
