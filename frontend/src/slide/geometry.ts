/** Shapes in slide level-0 pixel coordinates (origin top-left) and the mark geometry the
 * annotations API stores for them (annotations/models.py: box {x, y, width, height}, ellipse
 * {cx, cy, rx, ry}, polygon and freehand {points}, point {x, y}). */

import type { Mark, MarkKind } from "../findings/types";

export interface Pt {
  x: number;
  y: number;
}

export interface Size {
  width: number;
  height: number;
}

const round = (v: number) => Math.round(v * 10) / 10;

export function clamp(p: Pt, size: Size): Pt {
  return {
    x: Math.min(Math.max(p.x, 0), size.width),
    y: Math.min(Math.max(p.y, 0), size.height),
  };
}

/** The box spanned by two corners, inside the slide; null when it has no area. */
export function boxFrom(a: Pt, b: Pt, size: Size): Record<string, number> | null {
  const p = clamp(a, size);
  const q = clamp(b, size);
  const x = Math.min(p.x, q.x);
  const y = Math.min(p.y, q.y);
  const width = Math.abs(p.x - q.x);
  const height = Math.abs(p.y - q.y);
  if (width < 1 || height < 1) return null;
  return { x: round(x), y: round(y), width: round(width), height: round(height) };
}

/** The ellipse inscribed in the box spanned by two corners. */
export function ellipseFrom(a: Pt, b: Pt, size: Size): Record<string, number> | null {
  const box = boxFrom(a, b, size);
  if (!box) return null;
  return {
    cx: round(box.x + box.width / 2),
    cy: round(box.y + box.height / 2),
    rx: round(box.width / 2),
    ry: round(box.height / 2),
  };
}

/** Drop points closer than `minDistance` to the previous kept one (freehand strokes). */
export function thin(points: Pt[], minDistance: number): Pt[] {
  const out: Pt[] = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (!last || Math.hypot(p.x - last.x, p.y - last.y) >= minDistance) out.push(p);
  }
  return out;
}

/** A polygon's geometry; null with fewer than three distinct vertices. */
export function polygonFrom(points: Pt[], size: Size, minDistance = 0): { points: number[][] } | null {
  const kept = thin(points.map((p) => clamp(p, size)), Math.max(minDistance, 0.5));
  if (kept.length < 3) return null;
  return { points: kept.map((p) => [round(p.x), round(p.y)]) };
}

export function pointFrom(p: Pt, size: Size): Record<string, number> | null {
  if (p.x < 0 || p.y < 0 || p.x > size.width || p.y > size.height) return null;
  return { x: round(p.x), y: round(p.y) };
}

/** The vertices of a mark's outline, for drawing (ellipses are drawn as ellipses). */
export function outline(mark: Pick<Mark, "kind" | "geometry">): Pt[] {
  const g = mark.geometry as Record<string, unknown>;
  const num = (k: string) => Number(g[k] ?? 0);
  switch (mark.kind as MarkKind) {
    case "box":
    case "mask": {
      const [x, y, w, h] = [num("x"), num("y"), num("width"), num("height")];
      return [
        { x, y },
        { x: x + w, y },
        { x: x + w, y: y + h },
        { x, y: y + h },
      ];
    }
    case "polygon":
    case "freehand":
    case "length":
      return ((g.points as number[][] | undefined) ?? []).map(([x, y]) => ({ x, y }));
    case "point":
      return [{ x: num("x"), y: num("y") }];
    case "ellipse":
      return [{ x: num("cx"), y: num("cy") }];
  }
  return [];
}

/** The centre of a mark (to centre the view on it). */
export function centre(mark: Pick<Mark, "kind" | "geometry">): Pt {
  const pts = outline(mark);
  if (!pts.length) return { x: 0, y: 0 };
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  return { x: (Math.min(...xs) + Math.max(...xs)) / 2, y: (Math.min(...ys) + Math.max(...ys)) / 2 };
}

/** A mark's geometry moved by (dx, dy) slide pixels, kept inside the slide. */
export function translate(
  mark: Pick<Mark, "kind" | "geometry">,
  dx: number,
  dy: number,
  size: Size,
): Record<string, unknown> {
  const pts = outline(mark);
  if (mark.kind === "ellipse") {
    const g = mark.geometry as Record<string, number>;
    pts.splice(0, 1, { x: g.cx - g.rx, y: g.cy - g.ry }, { x: g.cx + g.rx, y: g.cy + g.ry });
  }
  // Limit the move so that the whole shape stays on the slide.
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  dx = Math.min(Math.max(dx, -Math.min(...xs)), size.width - Math.max(...xs));
  dy = Math.min(Math.max(dy, -Math.min(...ys)), size.height - Math.max(...ys));
  const g = { ...(mark.geometry as Record<string, unknown>) };
  const shift = (key: string, d: number) => {
    if (typeof g[key] === "number") g[key] = round((g[key] as number) + d);
  };
  if (Array.isArray(g.points)) {
    g.points = (g.points as number[][]).map(([x, y]) => [round(x + dx), round(y + dy)]);
  }
  shift("x", dx);
  shift("y", dy);
  shift("cx", dx);
  shift("cy", dy);
  return g;
}
