/** Conversion between Cornerstone annotations and the API's mark geometry (pure functions).
 *
 * Marks are stored in level-0 pixel coordinates of their image, origin at the top-left corner
 * (annotations/geometry.py): box {x, y, width, height}, ellipse {cx, cy, rx, ry}, polygon and
 * freehand {points: [[x, y], ...]}, point {x, y}, length {points: [[x1, y1], [x2, y2]]}.
 * The viewer places level-0 pixel (x, y) at world (x * sx, y * sy, z) (see loader.ts), so the
 * conversion only needs the image's spacing and size.
 */

import type { MarkKind } from "../findings/types";

export type Point2 = [number, number];
export type Point3 = [number, number, number];

/** The Cornerstone tool (or tool instance) that draws each kind of mark. */
export const TOOL_OF_KIND: Partial<Record<MarkKind, string>> = {
  box: "RectangleROI",
  ellipse: "EllipticalROI",
  polygon: "Polygon",
  freehand: "PlanarFreehandROI",
  point: "Point",
  length: "Length",
};

export const KIND_OF_TOOL: Record<string, MarkKind> = Object.fromEntries(
  Object.entries(TOOL_OF_KIND).map(([kind, tool]) => [tool, kind as MarkKind]),
);
// Other Cornerstone tools that draw the same shapes.
KIND_OF_TOOL.Probe = "point";
KIND_OF_TOOL.SplineROI = "polygon";

export interface Frame {
  /** Level-0 pixel spacing [x (columns), y (rows)] in world units. */
  spacing: Point2;
  columns: number;
  rows: number;
  /** The world z of the image's plane. */
  z?: number;
}

/** The parts of a Cornerstone annotation the conversion reads. */
export interface AnnotationShape {
  toolName: string;
  /** data.handles.points (world). */
  points: Point3[];
  /** data.contour.polyline (world), for contours. */
  polyline?: Point3[];
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

function clamp(v: number, hi: number): number {
  return Math.min(Math.max(v, 0), hi);
}

export function toPixel(world: ArrayLike<number>, frame: Frame): Point2 {
  return [
    round(clamp(world[0]! / frame.spacing[0], frame.columns)),
    round(clamp(world[1]! / frame.spacing[1], frame.rows)),
  ];
}

export function toWorld([x, y]: Point2, frame: Frame): Point3 {
  return [x * frame.spacing[0], y * frame.spacing[1], frame.z ?? 0];
}

function bounds(points: Point2[]): { x0: number; y0: number; x1: number; y1: number } {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/** The API mark of an annotation, or null when it is not a mark kind or is degenerate
 * (a box without area, a polygon of fewer than three points). */
export function annotationToMark(
  shape: AnnotationShape,
  frame: Frame,
): { kind: MarkKind; geometry: Record<string, unknown> } | null {
  const kind = KIND_OF_TOOL[shape.toolName];
  if (!kind) return null;
  const points = shape.points.map((p) => toPixel(p, frame));
  switch (kind) {
    case "box": {
      if (points.length < 2) return null;
      const b = bounds(points);
      if (b.x1 - b.x0 <= 0 || b.y1 - b.y0 <= 0) return null;
      return { kind, geometry: { x: b.x0, y: b.y0, width: round(b.x1 - b.x0), height: round(b.y1 - b.y0) } };
    }
    case "ellipse": {
      if (points.length < 4) return null;
      const b = bounds(points);
      const rx = round((b.x1 - b.x0) / 2);
      const ry = round((b.y1 - b.y0) / 2);
      if (rx <= 0 || ry <= 0) return null;
      return { kind, geometry: { cx: round((b.x0 + b.x1) / 2), cy: round((b.y0 + b.y1) / 2), rx, ry } };
    }
    case "point": {
      const p = points[0];
      return p ? { kind, geometry: { x: p[0], y: p[1] } } : null;
    }
    case "length": {
      if (points.length < 2) return null;
      return { kind, geometry: { points: [points[0]!, points[1]!] } };
    }
    case "polygon":
    case "freehand": {
      // A spline polygon's corners are its handles; a freehand contour lives in its polyline.
      const source = kind === "polygon" && shape.points.length >= 3 ? shape.points : shape.polyline;
      const contour = dedupe((source ?? []).map((p) => toPixel(p, frame)));
      if (contour.length < 3) return null;
      return { kind, geometry: { points: simplify(contour, 10_000) } };
    }
    default:
      return null;
  }
}

function dedupe(points: Point2[]): Point2[] {
  return points.filter((p, i) => i === 0 || p[0] !== points[i - 1]![0] || p[1] !== points[i - 1]![1]);
}

/** At most `max` points (every n-th), keeping the last; the API refuses longer lists. */
export function simplify(points: Point2[], max: number): Point2[] {
  if (points.length <= max) return points;
  const step = Math.ceil(points.length / max);
  return points.filter((_, i) => i % step === 0).slice(0, max);
}

/** The world points Cornerstone needs to draw a stored mark with TOOL_OF_KIND[kind]: handles
 * for boxes ([top-left, top-right, bottom-left, bottom-right]), ellipses ([bottom, top, left,
 * right]), points and lengths; the contour for polygons and freehand contours. */
export function markToPoints(
  kind: MarkKind,
  geometry: Record<string, unknown>,
  frame: Frame,
): Point3[] | null {
  const n = (key: string): number => Number(geometry[key]);
  const w = (p: Point2) => toWorld(p, frame);
  switch (kind) {
    case "box": {
      const [x, y, wd, ht] = [n("x"), n("y"), n("width"), n("height")];
      if (![x, y, wd, ht].every(Number.isFinite)) return null;
      return [w([x, y]), w([x + wd, y]), w([x, y + ht]), w([x + wd, y + ht])];
    }
    case "ellipse": {
      const [cx, cy, rx, ry] = [n("cx"), n("cy"), n("rx"), n("ry")];
      if (![cx, cy, rx, ry].every(Number.isFinite)) return null;
      return [w([cx, cy + ry]), w([cx, cy - ry]), w([cx - rx, cy]), w([cx + rx, cy])];
    }
    case "point": {
      const [x, y] = [n("x"), n("y")];
      return Number.isFinite(x) && Number.isFinite(y) ? [w([x, y])] : null;
    }
    case "length":
    case "polygon":
    case "freehand": {
      const points = geometry.points;
      if (!Array.isArray(points)) return null;
      const out = points
        .filter((p): p is Point2 => Array.isArray(p) && p.length === 2)
        .map((p) => w([Number(p[0]), Number(p[1])]));
      return out.length >= (kind === "length" ? 2 : 3) ? out : null;
    }
    default:
      return null;
  }
}

/** Whether two geometries are the same mark (to within rounding), so a store change that only
 * echoes what the viewer drew does not redraw it. */
export function sameGeometry(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return JSON.stringify(roundDeep(a)) === JSON.stringify(roundDeep(b));
}

function roundDeep(value: unknown): unknown {
  if (typeof value === "number") return Math.round(value * 10) / 10;
  if (Array.isArray(value)) return value.map(roundDeep);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, roundDeep((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
