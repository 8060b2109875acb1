/** The drawing tools of the slide page as a small state machine over pointer positions in slide
 * level-0 coordinates; the OpenSeadragon wiring feeds it and draws its draft.
 *
 * box and ellipse: press, drag, release. freehand: press and drag a stroke. point: click.
 * polygon: click each vertex; close it by clicking the first vertex, double-clicking, or Enter;
 * Backspace removes the last vertex; Escape drops the draft. Dragging while drawing a polygon
 * still pans the slide. */

import type { MarkKind } from "../findings/types";
import { boxFrom, ellipseFrom, pointFrom, polygonFrom, type Pt, type Size } from "./geometry";

export type SlideTool = "pan" | "box" | "ellipse" | "polygon" | "freehand" | "point";
export const SLIDE_TOOLS: SlideTool[] = ["pan", "box", "ellipse", "polygon", "freehand", "point"];

export interface Draft {
  kind: MarkKind;
  points: Pt[];
  /** Where the pointer is (the polygon's rubber band). */
  hover?: Pt;
}

export interface Drawn {
  kind: MarkKind;
  geometry: Record<string, unknown>;
  /** Shift held: add the mark to the selected finding instead of a new one. */
  append: boolean;
}

export class DrawingController {
  tool: SlideTool = "pan";
  draft: Draft | null = null;
  private pressed = false;
  private append = false;

  constructor(
    private readonly size: Size,
    private readonly done: (drawn: Drawn) => void,
    private readonly changed: () => void = () => {},
    /** Slide pixels per screen pixel now (closing distance, freehand spacing). */
    private readonly pixelSize: () => number = () => 1,
  ) {}

  setTool(tool: SlideTool): void {
    if (tool === this.tool) return;
    this.tool = tool;
    this.cancel();
  }

  cancel(): boolean {
    const had = this.draft !== null;
    this.draft = null;
    this.pressed = false;
    if (had) this.changed();
    return had;
  }

  /** Pointer down; true when the tool takes the gesture (the slide must not pan). */
  press(p: Pt, shift = false): boolean {
    if (this.tool === "box" || this.tool === "ellipse" || this.tool === "freehand") {
      this.pressed = true;
      this.append = shift;
      this.draft = { kind: this.tool, points: [p, p] };
      if (this.tool === "freehand") this.draft.points = [p];
      this.changed();
      return true;
    }
    return false;
  }

  drag(p: Pt): boolean {
    if (!this.pressed || !this.draft) return false;
    if (this.tool === "freehand") {
      const last = this.draft.points[this.draft.points.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) >= 2 * this.pixelSize()) this.draft.points.push(p);
    } else {
      this.draft.points[1] = p;
    }
    this.changed();
    return true;
  }

  release(p: Pt): boolean {
    if (!this.pressed || !this.draft) return false;
    this.pressed = false;
    const [a] = this.draft.points;
    let geometry: Record<string, unknown> | null = null;
    if (this.tool === "box") geometry = boxFrom(a, p, this.size);
    else if (this.tool === "ellipse") geometry = ellipseFrom(a, p, this.size);
    else if (this.tool === "freehand") geometry = polygonFrom([...this.draft.points, p], this.size, this.pixelSize());
    const kind = this.draft.kind;
    this.draft = null;
    this.changed();
    if (geometry) this.done({ kind, geometry, append: this.append });
    return true;
  }

  /** A click (no drag); true when the tool used it. */
  click(p: Pt, shift = false): boolean {
    if (this.tool === "point") {
      const geometry = pointFrom(p, this.size);
      if (geometry) this.done({ kind: "point", geometry, append: shift });
      return true;
    }
    if (this.tool !== "polygon") return this.tool !== "pan";
    if (!this.draft) {
      this.append = shift;
      this.draft = { kind: "polygon", points: [p] };
    } else {
      const first = this.draft.points[0];
      const closeBy = 8 * this.pixelSize();
      if (this.draft.points.length >= 3 && Math.hypot(p.x - first.x, p.y - first.y) <= closeBy) {
        return this.finishPolygon();
      }
      this.draft.points.push(p);
    }
    this.changed();
    return true;
  }

  doubleClick(): boolean {
    return this.tool === "polygon" ? this.finishPolygon() : this.tool !== "pan";
  }

  move(p: Pt): void {
    if (this.tool === "polygon" && this.draft) {
      this.draft.hover = p;
      this.changed();
    }
  }

  /** Enter, Escape and Backspace while drawing; true when used. */
  key(key: string): boolean {
    if (!this.draft) return false;
    if (key === "Escape") return this.cancel();
    if (key === "Enter" && this.tool === "polygon") return this.finishPolygon();
    if (key === "Backspace" && this.tool === "polygon") {
      this.draft.points.pop();
      if (!this.draft.points.length) this.draft = null;
      this.changed();
      return true;
    }
    return false;
  }

  finishPolygon(): boolean {
    if (!this.draft || this.draft.kind !== "polygon") return false;
    const geometry = polygonFrom(this.draft.points, this.size);
    if (!geometry) return true; // fewer than three vertices: keep drawing
    this.draft = null;
    this.changed();
    this.done({ kind: "polygon", geometry, append: this.append });
    return true;
  }
}
