/** The brush and the eraser on screen. While the primary button is down in a viewport, the stroke
 * is drawn on a plain 2D canvas laid over it: a pointer move costs a line on that canvas, not a
 * labelmap update and a WebGL render (under software WebGL those took 0.4 to 1.5 s a move). When
 * the button is released the path goes, in image pixels, to masks.ts, which writes it into the
 * labelmap once (strokeRaster.ts) and saves the mask; the canvas is cleared once the labelmap is
 * on screen.
 *
 * Cornerstone does not see the stroke: its tools listen to mouse events on the viewport element,
 * and the press and the moves of a stroke stop at the viewport's host. A ring shows the brush's
 * size under the pointer. */

import { Enums, utilities as csUtils, type StackViewport, type Types } from "@cornerstonejs/core";
import type { ViewportHandle } from "./grid";
import type { StrokePoint } from "./strokeRaster";

/** The brush radius in world units (mm on an image with a pixel spacing, pixels otherwise):
 * Cornerstone's BrushTool default, the size the labelmap brush had. */
export const BRUSH_RADIUS = 25;

export type PaintMode = "brush" | "eraser";

/** A finished stroke in the image's pixel coordinates (pixel centres at integers). */
export interface PaintedStroke {
  mode: PaintMode;
  points: StrokePoint[];
  /** The brush radius in pixels along the columns and the rows. */
  radiusX: number;
  radiusY: number;
}

export interface BrushOverlayOptions {
  /** The tool on the primary button, when it paints. */
  mode: () => PaintMode | null;
  /** A stroke begins: whether it may (the viewport's labelmap is ready), and its colour. */
  begin: (mode: PaintMode) => Types.Color | null;
  end: (stroke: PaintedStroke) => void;
}

interface Stroke {
  mode: PaintMode;
  pointerId: number;
  colour: string;
  world: Types.Point3[];
  last: Types.Point2;
}

export class BrushOverlay {
  private readonly canvas: HTMLCanvasElement;
  private readonly ring: HTMLDivElement;
  private readonly ctx: CanvasRenderingContext2D;
  private stroke: Stroke | null = null;
  /** The element's place on the page (client pixels), taken when the pointer comes in. */
  private origin = { left: 0, top: 0 };
  /** The brush radius in canvas (CSS) pixels, for the present zoom; 0 when unknown. */
  private radiusOnCanvas = 0;
  private clearTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly handle: ViewportHandle,
    private readonly viewport: () => StackViewport,
    private readonly options: BrushOverlayOptions,
  ) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "brush-overlay";
    this.canvas.dataset.testid = "brush-overlay";
    this.ring = document.createElement("div");
    this.ring.className = "brush-ring";
    this.ring.hidden = true;
    handle.host.append(this.canvas, this.ring);
    this.ctx = this.canvas.getContext("2d")!;
    const host = handle.host;
    host.addEventListener("pointerdown", (evt) => this.press(evt), { capture: true });
    host.addEventListener("pointermove", (evt) => this.move(evt));
    host.addEventListener("pointerup", (evt) => this.release(evt, true));
    host.addEventListener("pointercancel", (evt) => this.release(evt, false));
    host.addEventListener("lostpointercapture", (evt) => this.release(evt, true));
    host.addEventListener("pointerenter", () => this.measure());
    host.addEventListener("pointerleave", () => {
      if (!this.stroke) this.ring.hidden = true;
    });
    // The stroke's mouse events stop here, before Cornerstone's listeners on the element.
    const shield = (evt: Event) => {
      if (this.stroke) evt.stopPropagation();
    };
    for (const type of ["mousedown", "mousemove", "mouseup"]) host.addEventListener(type, shield, { capture: true });
    handle.element.addEventListener(Enums.Events.CAMERA_MODIFIED, () => {
      this.radiusOnCanvas = 0;
      if (this.stroke) this.redraw();
    });
  }

  /** Show or hide the ring after the tool changed. */
  refresh(): void {
    if (!this.options.mode()) this.ring.hidden = true;
  }

  private press(evt: PointerEvent): void {
    if (evt.button !== 0 || this.stroke) return;
    const mode = this.options.mode();
    if (!mode) return;
    const colour = this.options.begin(mode);
    if (!colour) return;
    if (this.clearTimer) clearTimeout(this.clearTimer);
    this.measure();
    this.fitCanvas();
    this.stroke = {
      mode,
      pointerId: evt.pointerId,
      colour: mode === "eraser" ? "rgb(0, 0, 0)" : `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`,
      world: [],
      last: [0, 0],
    };
    this.canvas.dataset.mode = mode;
    this.handle.host.setPointerCapture(evt.pointerId);
    this.extend(evt.clientX - this.origin.left, evt.clientY - this.origin.top);
  }

  private move(evt: PointerEvent): void {
    const stroke = this.stroke;
    if (stroke && evt.pointerId === stroke.pointerId) {
      const coalesced = evt.getCoalescedEvents?.() ?? [];
      for (const e of coalesced.length ? coalesced : [evt]) this.extend(e.clientX - this.origin.left, e.clientY - this.origin.top);
      return;
    }
    if (!this.options.mode()) {
      this.ring.hidden = true;
      return;
    }
    this.showRing(evt.clientX - this.origin.left, evt.clientY - this.origin.top);
  }

  /** One more point of the stroke (canvas pixels). */
  private extend(x: number, y: number): void {
    const stroke = this.stroke!;
    stroke.world.push(this.viewport().canvasToWorld([x, y]));
    this.draw(x, y, stroke.world.length === 1);
    this.showRing(x, y);
  }

  /** A dab of the brush at the first point, a line from the last point at the others. */
  private draw(x: number, y: number, first: boolean): void {
    const stroke = this.stroke!;
    const radius = this.radius();
    const ctx = this.ctx;
    ctx.strokeStyle = stroke.colour;
    ctx.fillStyle = stroke.colour;
    ctx.lineWidth = 2 * radius;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (first) {
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(stroke.last[0], stroke.last[1]);
      ctx.lineTo(x, y);
      ctx.stroke();
    }
    stroke.last = [x, y];
  }

  private release(evt: PointerEvent, keep: boolean): void {
    const stroke = this.stroke;
    if (!stroke || evt.pointerId !== stroke.pointerId) return;
    this.stroke = null;
    if (this.handle.host.hasPointerCapture(evt.pointerId)) this.handle.host.releasePointerCapture(evt.pointerId);
    if (!keep || stroke.world.length === 0) {
      this.clear();
      return;
    }
    const image = this.viewport().getImageData();
    if (!image) {
      this.clear();
      return;
    }
    const points = stroke.world.map((world) => {
      const [x, y] = csUtils.transformWorldToIndexContinuous(image.imageData, world) as number[];
      return { x: x!, y: y! };
    });
    // The stroke stays on the canvas until the labelmap that now holds it is drawn.
    const element = this.handle.element;
    const drawn = () => {
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, drawn);
      this.clear();
    };
    element.addEventListener(Enums.Events.IMAGE_RENDERED, drawn);
    this.clearTimer = setTimeout(drawn, 2000);
    this.options.end({
      mode: stroke.mode,
      points,
      radiusX: BRUSH_RADIUS / image.spacing[0],
      radiusY: BRUSH_RADIUS / image.spacing[1],
    });
  }

  private clear(): void {
    if (this.clearTimer) clearTimeout(this.clearTimer);
    this.clearTimer = null;
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /** Draw the whole stroke again (the camera moved under it). */
  private redraw(): void {
    this.fitCanvas();
    this.stroke!.world.forEach((point, i) => {
      const [x, y] = this.viewport().worldToCanvas(point);
      this.draw(x, y, i === 0);
    });
  }

  private measure(): void {
    const rect = this.handle.element.getBoundingClientRect();
    this.origin = { left: rect.left, top: rect.top };
  }

  /** The canvas backing store at the element's size in device pixels, drawn in CSS pixels. */
  private fitCanvas(): void {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(this.handle.element.clientWidth * ratio);
    const height = Math.round(this.handle.element.clientHeight * ratio);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    } else {
      this.ctx.clearRect(0, 0, width, height);
    }
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  /** BRUSH_RADIUS in canvas pixels: a world point and one BRUSH_RADIUS up the view, on the canvas. */
  private radius(): number {
    if (this.radiusOnCanvas > 0) return this.radiusOnCanvas;
    const viewport = this.viewport();
    const up = viewport.getCamera().viewUp ?? [0, -1, 0];
    const centre = viewport.canvasToWorld([0, 0]);
    const above: Types.Point3 = [
      centre[0] + up[0] * BRUSH_RADIUS,
      centre[1] + up[1] * BRUSH_RADIUS,
      centre[2] + up[2] * BRUSH_RADIUS,
    ];
    const [x0, y0] = viewport.worldToCanvas(centre);
    const [x1, y1] = viewport.worldToCanvas(above);
    this.radiusOnCanvas = Math.hypot(x1 - x0, y1 - y0);
    return this.radiusOnCanvas;
  }

  private showRing(x: number, y: number): void {
    const radius = this.radius();
    const ring = this.ring;
    ring.hidden = false;
    ring.dataset.mode = this.stroke?.mode ?? this.options.mode() ?? "";
    ring.style.width = ring.style.height = `${2 * radius}px`;
    ring.style.transform = `translate(${x - radius}px, ${y - radius}px)`;
  }
}
