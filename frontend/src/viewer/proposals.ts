/** The machine-proposals layer: predictions of a model (GET /api/exams/{id}/proposals/), drawn
 * in an SVG overlay of their own above each viewport, never as annotations, so they can never be
 * saved, edited or mistaken for a reader's marks. Shown, hidden and styled on its own. */

import { Enums } from "@cornerstonejs/core";
import type { Api } from "../api";
import type { ViewerGrid, ViewportHandle } from "./grid";
import { spacingOf } from "./loader";

export interface Proposal {
  id: number;
  image: number | null;
  model: string | null;
  outputs: {
    probability?: number;
    label?: string;
    lesions?: { cx: number; cy: number; radius?: number; score?: number }[];
  };
}

export type ProposalStyle = "outline" | "filled";

/** The circles a proposal list puts on one image (pure): centre/radius in level-0 pixels. */
export function proposalCircles(
  proposals: Proposal[],
  imageId: number,
  minScore = 0,
): { cx: number; cy: number; r: number; score: number | null; model: string }[] {
  return proposals
    .filter((p) => p.image === imageId)
    .flatMap((p) =>
      (p.outputs.lesions ?? [])
        .filter((l) => Number.isFinite(l.cx) && Number.isFinite(l.cy))
        .filter((l) => (l.score ?? 1) >= minScore)
        .map((l) => ({
          cx: l.cx,
          cy: l.cy,
          r: Math.max(4, l.radius ?? 20),
          score: l.score ?? null,
          model: p.model ?? "model",
        })),
    );
}

const SVG = "http://www.w3.org/2000/svg";

export class ProposalLayer {
  proposals: Proposal[] = [];
  visible = false;
  style: ProposalStyle = "outline";
  private readonly svgs = new Map<ViewportHandle, SVGSVGElement>();

  constructor(
    private readonly api: Api,
    private readonly grid: ViewerGrid,
  ) {}

  async load(examId: number): Promise<void> {
    try {
      this.proposals = await this.api.get<Proposal[]>(`/api/exams/${examId}/proposals/`);
    } catch {
      this.proposals = [];
    }
    this.draw();
  }

  /** Follow a viewport: redraw its overlay whenever it renders. */
  watch(handle: ViewportHandle): void {
    const svg = document.createElementNS(SVG, "svg");
    svg.classList.add("proposal-layer");
    svg.dataset.testid = "proposals";
    handle.host.append(svg);
    this.svgs.set(handle, svg);
    handle.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.drawOne(handle));
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    this.draw();
  }

  setStyle(style: ProposalStyle): void {
    this.style = style;
    this.draw();
  }

  draw(): void {
    for (const handle of this.svgs.keys()) this.drawOne(handle);
  }

  private drawOne(handle: ViewportHandle): void {
    const svg = this.svgs.get(handle);
    if (!svg) return;
    svg.replaceChildren();
    svg.dataset.count = "0";
    svg.style.display = this.visible ? "" : "none";
    const image = handle.slotInfo.images[0];
    if (!this.visible || !image || !handle.host.dataset.rendered) return;
    const viewport = this.grid.viewport(handle);
    const [sx, sy] = spacingOf(image);
    const circles = proposalCircles(this.proposals, image.id);
    svg.dataset.count = String(circles.length);
    for (const c of circles) {
      const centre = viewport.worldToCanvas([c.cx * sx, c.cy * sy, 0] as never);
      const edge = viewport.worldToCanvas([(c.cx + c.r) * sx, c.cy * sy, 0] as never);
      const r = Math.max(3, Math.hypot(edge[0] - centre[0], edge[1] - centre[1]));
      const circle = document.createElementNS(SVG, "circle");
      circle.setAttribute("cx", String(centre[0]));
      circle.setAttribute("cy", String(centre[1]));
      circle.setAttribute("r", String(r));
      circle.setAttribute("class", `proposal ${this.style}`);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(centre[0] + r + 3));
      label.setAttribute("y", String(centre[1] - r));
      label.textContent = c.score === null ? c.model : `${c.model} ${(c.score * 100).toFixed(0)}%`;
      svg.append(circle, label);
    }
  }
}
