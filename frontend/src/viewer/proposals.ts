/** The machine-proposals layer: predictions of a model (GET /api/exams/{id}/proposals/), drawn
 * in an SVG overlay of their own above each viewport, never as annotations, so they can never be
 * saved, edited or mistaken for a reader's marks. Shown, hidden and styled on its own.
 *
 * The layer also says what it shows or why it shows nothing (`statusEl`, in the side panel):
 * which model's predictions these are, "no active model for US", or "no predictions for this
 * exam yet", with a button that runs one (reviewers and owners, as the API allows) and its Job's
 * progress. */

import { Enums } from "@cornerstonejs/core";
import type { Api } from "../api";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { errorText } from "../ml/common";
import { formatPercent } from "../ml/format";
import { JobProgress } from "../ml/progress";
import type { ViewerGrid, ViewportHandle } from "./grid";
import { spacingOf } from "./loader";

export interface Proposal {
  id: number;
  image: number | null;
  model: string | null;
  model_version?: number | null;
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

/** An active model version as GET /api/model-versions/?status=active lists it. */
export interface ActiveVersion {
  id: number;
  modality: string;
  recipe: string;
  task: string;
  label: string;
}

/** What the AI layer can say about an exam. */
export type AiState =
  | { kind: "error"; message: string }
  | { kind: "shown"; count: number; lesions: number; model: string; findings: string[] }
  | { kind: "no-model"; modality: string }
  | { kind: "no-predictions"; version: ActiveVersion };

/** The active version that applies to an exam: one for its modality, else one for any modality. */
export function modelFor(versions: ActiveVersion[], modalities: string[]): ActiveVersion | null {
  return versions.find((v) => v.modality && modalities.includes(v.modality)) ?? versions.find((v) => !v.modality) ?? null;
}

/** The state of the layer from the exam's predictions and the project's active versions (pure). */
export function aiState(proposals: Proposal[], versions: ActiveVersion[], modalities: string[]): AiState {
  if (proposals.length) {
    const newest = proposals[0]!.model_version ?? null;
    const shown = proposals.filter((p) => (p.model_version ?? null) === newest);
    const findings = [
      ...new Set(
        shown
          .filter((p) => p.outputs.label !== undefined && p.outputs.label !== null && p.outputs.label !== "")
          .map((p) => `${p.outputs.label}${typeof p.outputs.probability === "number" ? ` (${formatPercent(p.outputs.probability)})` : ""}`),
      ),
    ];
    return {
      kind: "shown",
      count: shown.length,
      lesions: shown.reduce((n, p) => n + (p.outputs.lesions?.length ?? 0), 0),
      model: shown[0]!.model ?? "a model",
      findings,
    };
  }
  const version = modelFor(versions, modalities);
  if (!version) return { kind: "no-model", modality: modalities.join("/") || "this modality" };
  return { kind: "no-predictions", version };
}

/** The sentence the layer shows for a state. */
export function aiMessage(state: AiState): string {
  switch (state.kind) {
    case "error":
      return `AI layer: ${state.message}`;
    case "no-model":
      return `AI layer: no active model for ${state.modality}.`;
    case "no-predictions":
      return `AI layer: no predictions for this exam yet: run one (model ${state.version.recipe} v${state.version.id}).`;
    case "shown": {
      const what = state.findings.length ? ` It says ${state.findings.join(", ")}.` : "";
      const marks = state.lesions ? ` ${state.lesions} lesion mark${state.lesions === 1 ? "" : "s"} drawn when the layer is on (A).` : " No lesion marks to draw.";
      return `AI layer: ${state.count} prediction${state.count === 1 ? "" : "s"} of ${state.model}.${what}${marks}`;
    }
  }
}

export interface ProposalLayerOptions {
  projectId?: number | null;
  modalities?: string[];
  /** Reviewers and owners may start a prediction (POST /api/model-versions/{id}/predict/). */
  canRun?: boolean;
}

const SVG = "http://www.w3.org/2000/svg";

export class ProposalLayer {
  proposals: Proposal[] = [];
  visible = false;
  style: ProposalStyle = "outline";
  state: AiState | null = null;
  /** The layer's own line in the side panel: what it shows or why it shows nothing. */
  readonly statusEl: HTMLElement = h("section", { className: "ai-status", dataset: { testid: "ai-status" }, "aria-live": "polite" });
  private readonly svgs = new Map<ViewportHandle, SVGSVGElement>();
  private examId = 0;

  constructor(
    private readonly api: Api,
    private readonly grid: ViewerGrid,
    private readonly options: ProposalLayerOptions = {},
  ) {}

  async load(examId: number): Promise<void> {
    this.examId = examId;
    let versions: ActiveVersion[] = [];
    try {
      const [proposals, active] = await Promise.all([
        this.api.get<Proposal[]>(`/api/exams/${examId}/proposals/`),
        this.options.projectId
          ? this.api.all<ActiveVersion>("/api/model-versions/", { project: this.options.projectId, status: "active" })
          : Promise.resolve([] as ActiveVersion[]),
      ]);
      this.proposals = proposals;
      versions = active;
      this.state = aiState(proposals, versions, this.options.modalities ?? []);
    } catch (err) {
      this.proposals = [];
      this.state = { kind: "error", message: `the predictions could not be loaded (${errorText(err)}).` };
    }
    this.showStatus();
    this.draw();
  }

  private showStatus(): void {
    const state = this.state;
    if (!state) return;
    this.statusEl.dataset.state = state.kind;
    const parts: (Node | string)[] = [h("h3", {}, "AI layer"), h("p", { className: "ai-message" }, aiMessage(state).replace(/^AI layer: /, ""))];
    if (state.kind === "no-predictions" && this.options.canRun) {
      const button = h("button", { className: "primary" }, "Run a prediction");
      const progress = new JobProgress("Prediction progress");
      const out = h("p", { className: "muted" });
      button.addEventListener("click", () => void this.runPrediction(state.version, button, progress, out));
      parts.push(h("div", { className: "ai-run" }, button), progress.el, out);
      progress.el.hidden = true;
    }
    this.statusEl.replaceChildren(...parts);
  }

  /** Start a prediction of this exam, show its progress, then load what it produced. */
  private async runPrediction(version: ActiveVersion, button: HTMLButtonElement, progress: JobProgress, out: HTMLElement): Promise<void> {
    button.disabled = true;
    progress.el.hidden = false;
    progress.starting("Running the model on this exam…");
    try {
      const job = await progress.track(this.api, await this.api.post<Job>(`/api/model-versions/${version.id}/predict/`, { exams: [this.examId] }));
      if (job.status !== "succeeded") {
        out.textContent = `The prediction ended ${job.status}${job.error ? `: ${job.error}` : "."}`;
        button.disabled = false;
        return;
      }
      await this.load(this.examId);
    } catch (err) {
      progress.show({ status: "failed", progress: 0, message: "", error: errorText(err) });
      out.textContent = `The prediction could not be started: ${errorText(err)}`;
      button.disabled = false;
    }
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
    this.statusEl.classList.toggle("on", visible);
    // Turning the layer on shows what it shows (or why nothing) in the side panel.
    if (visible) this.statusEl.scrollIntoView?.({ block: "nearest" });
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
