/** The annotation layer over the slide: an SVG the size of the viewer that draws every mark of
 * the findings (and the shape being drawn) in screen pixels, recomputed from slide level-0
 * coordinates whenever the view moves. Clicking a mark selects its finding. */

import type { FindingView } from "../findings/store";
import type { Mark } from "../findings/types";
import { outline, type Pt } from "./geometry";
import type { Draft } from "./tools";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface ViewTransform {
  /** Slide level-0 pixel to viewer-element pixel. */
  toScreen: (p: Pt) => Pt;
  /** Screen pixels per slide pixel. */
  scale: number;
}

export class SlideOverlay {
  readonly el: SVGSVGElement;
  private readonly marksLayer: SVGGElement;
  private readonly draftLayer: SVGGElement;

  constructor(
    private readonly onPick: (findingKey: string, mark: Mark) => void,
    /** A drag of the selected finding's mark, in screen pixels from where it started. */
    private readonly onMove?: (findingKey: string, mark: Mark, dx: number, dy: number, done: boolean) => void,
    /** Wheel events over a mark go on to the slide (zoom keeps working over annotations). */
    private readonly onWheel?: (event: WheelEvent) => void,
  ) {
    this.el = svg("svg", { class: "slide-overlay", "data-testid": "slide-overlay" });
    this.el.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.onWheel?.(e);
    }, { passive: false });
    this.marksLayer = svg("g", { class: "marks" });
    this.draftLayer = svg("g", { class: "draft-layer" });
    this.el.append(this.marksLayer, this.draftLayer);
  }

  render(findings: FindingView[], selected: string | null, draft: Draft | null, view: ViewTransform): void {
    const nodes: SVGElement[] = [];
    findings.forEach((finding, index) => {
      for (const mark of finding.marks) {
        const node = this.shape(mark, view);
        if (!node) continue;
        const classes = ["mark"];
        if (finding.key === selected) classes.push("selected");
        if (finding.source === "reference") classes.push("reference");
        node.setAttribute("class", classes.join(" "));
        node.dataset.testid = "slide-mark";
        node.dataset.findingKey = finding.key;
        node.dataset.findingId = String(finding.id ?? "");
        node.dataset.kind = mark.kind;
        node.addEventListener("pointerdown", (e) => {
          e.stopPropagation();
          if (finding.key === selected && e.button === 0) this.startMove(finding.key, mark, e);
        });
        node.addEventListener("click", (e) => {
          e.stopPropagation();
          this.onPick(finding.key, mark);
        });
        const title = svg("title", {});
        title.textContent = `${index + 1}. ${finding.finding_type || "finding"} (${mark.kind})`;
        node.append(title);
        nodes.push(node);
        const anchor = outline(mark)[0];
        if (anchor) {
          const at = view.toScreen(anchor);
          const label = svg("text", { x: at.x + 6, y: at.y - 6, class: `mark-label${finding.key === selected ? " selected" : ""}` });
          label.textContent = String(index + 1);
          nodes.push(label);
        }
      }
    });
    this.marksLayer.replaceChildren(...nodes);
    this.draftLayer.replaceChildren();
    if (draft) {
      const points = draft.hover ? [...draft.points, draft.hover] : draft.points;
      const node = this.draftShape(draft, points, view);
      if (node) this.draftLayer.append(node);
    }
  }

  /** Follow the pointer on the window (the layer is redrawn under it while it moves). */
  private startMove(findingKey: string, mark: Mark, start: PointerEvent): void {
    if (!this.onMove) return;
    start.preventDefault();
    let moved = false;
    const move = (e: PointerEvent) => {
      const dx = e.clientX - start.clientX;
      const dy = e.clientY - start.clientY;
      if (!moved && Math.hypot(dx, dy) < 3) return;
      moved = true;
      this.onMove?.(findingKey, mark, dx, dy, false);
    };
    const up = (e: PointerEvent) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (moved) this.onMove?.(findingKey, mark, e.clientX - start.clientX, e.clientY - start.clientY, true);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  private shape(mark: Pick<Mark, "kind" | "geometry">, view: ViewTransform): SVGElement | null {
    const g = mark.geometry as Record<string, number>;
    const s = view.scale;
    switch (mark.kind) {
      case "ellipse": {
        const c = view.toScreen({ x: g.cx, y: g.cy });
        return svg("ellipse", { cx: c.x, cy: c.y, rx: Math.max(g.rx * s, 1), ry: Math.max(g.ry * s, 1) });
      }
      case "point": {
        const c = view.toScreen({ x: g.x, y: g.y });
        return svg("circle", { cx: c.x, cy: c.y, r: 6 });
      }
      case "length": {
        const pts = outline(mark).map(view.toScreen);
        return svg("polyline", { points: pts.map((p) => `${p.x},${p.y}`).join(" "), fill: "none" });
      }
      default: {
        const pts = outline(mark).map(view.toScreen);
        if (!pts.length) return null;
        return svg("polygon", { points: pts.map((p) => `${p.x},${p.y}`).join(" ") });
      }
    }
  }

  private draftShape(draft: Draft, points: Pt[], view: ViewTransform): SVGElement | null {
    if (!points.length) return null;
    const screen = points.map(view.toScreen);
    let node: SVGElement;
    if (draft.kind === "box" || draft.kind === "ellipse") {
      const [a, b] = [screen[0], screen[screen.length - 1]];
      const x = Math.min(a.x, b.x);
      const y = Math.min(a.y, b.y);
      const w = Math.abs(a.x - b.x);
      const h = Math.abs(a.y - b.y);
      node =
        draft.kind === "box"
          ? svg("rect", { x, y, width: w, height: h })
          : svg("ellipse", { cx: x + w / 2, cy: y + h / 2, rx: w / 2, ry: h / 2 });
    } else {
      node = svg("g", {});
      node.append(svg("polyline", { points: screen.map((p) => `${p.x},${p.y}`).join(" ") }));
      if (draft.kind === "polygon") {
        for (const p of screen.slice(0, draft.points.length)) {
          node.append(svg("circle", { cx: p.x, cy: p.y, r: 3, class: "vertex" }));
        }
      }
    }
    node.setAttribute("class", `draft ${node.getAttribute("class") ?? ""}`.trim());
    node.dataset.testid = "slide-draft";
    return node;
  }
}
