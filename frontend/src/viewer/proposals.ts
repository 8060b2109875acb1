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
import { ReviewPanel } from "./review";

export interface Proposal {
  id: number;
  /** null: the exam-level scores of a reading (once per exam and version). */
  image: number | null;
  model: string | null;
  model_version?: number | null;
  model_status?: string;
  model_task?: string;
  outputs: {
    level?: "exam" | "image";
    probability?: number;
    label?: string;
    scores?: Record<string, number>;
    breasts?: Record<string, Record<string, number>>;
    lesions?: { cx: number; cy: number; radius?: number; score?: number }[];
    has_mask?: boolean;
  };
  heatmap_url?: string | null;
  /** "gradcam" (classifiers) or "probability" (segmentation, detection). */
  heatmap_kind?: string;
  mask_url?: string | null;
  /** A classifier's exam-level scores: the exam label that accepting them records. */
  label_choice?: { field: string; value: string } | null;
  provenance?: string;
  review?: Record<string, unknown>;
}

export type ProposalStyle = "outline" | "filled";

/** The circles a proposal list puts on one image (pure): centre/radius in level-0 pixels. */
export function proposalCircles(
  proposals: Proposal[],
  imageId: number,
  minScore = 0,
): { id: number; cx: number; cy: number; r: number; score: number | null; model: string }[] {
  return proposals
    .filter((p) => p.image === imageId)
    .flatMap((p) =>
      (p.outputs.lesions ?? [])
        .filter((l) => Number.isFinite(l.cx) && Number.isFinite(l.cy))
        .filter((l) => (l.score ?? 1) >= minScore)
        .map((l) => ({
          id: p.id,
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
  /** Reviewers and owners may pre-annotate the exam (POST /api/exams/{id}/preannotate/) and
   * accept all proposals above a threshold. */
  canRun?: boolean;
  /** Annotators and up may accept, edit or reject one proposal. */
  canReview?: boolean;
  /** The project's rejection reasons. */
  reasons?: string[];
  /** "MG L-CC" for an image id. */
  imageName?: (id: number) => string;
  /** After a review the server recorded: reload the findings. */
  onReviewed?: () => Promise<void>;
}

/** An SVG transform placing a (columns x rows) picture on the canvas points of its image's
 * corners (top-left, top-right, bottom-left): flips and rotations of the viewport included. */
export function pictureMatrix(
  topLeft: readonly number[],
  topRight: readonly number[],
  bottomLeft: readonly number[],
  columns: number,
  rows: number,
): string {
  const a = (topRight[0]! - topLeft[0]!) / columns;
  const b = (topRight[1]! - topLeft[1]!) / columns;
  const c = (bottomLeft[0]! - topLeft[0]!) / rows;
  const d = (bottomLeft[1]! - topLeft[1]!) / rows;
  return `matrix(${a} ${b} ${c} ${d} ${topLeft[0]} ${topLeft[1]})`;
}

/** A grey map (0-255) coloured for an overlay, in place: a heat scale whose transparency
 * follows the value (maps), or the proposals' colour where the mask is set (masks). */
export function colourise(rgba: Uint8ClampedArray, kind: "map" | "mask"): Uint8ClampedArray {
  for (let i = 0; i < rgba.length; i += 4) {
    const v = rgba[i]! / 255;
    if (kind === "mask") {
      const on = v > 0.5;
      rgba[i] = 255;
      rgba[i + 1] = 61;
      rgba[i + 2] = 242;
      rgba[i + 3] = on ? 200 : 0;
    } else {
      rgba[i] = 255 * Math.min(1, 2 * v);
      rgba[i + 1] = 255 * Math.max(0, 2 * v - 1);
      rgba[i + 2] = 0;
      rgba[i + 3] = 255 * Math.min(1, 1.5 * v);
    }
  }
  return rgba;
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
  /** Coloured overlays by URL (data: URLs), made once per map or mask. */
  private readonly pictures = new Map<string, string>();
  opacity = 0.45;
  selectedId: number | null = null;
  review: ReviewPanel | null = null;

  constructor(
    private readonly api: Api,
    private readonly grid: ViewerGrid,
    private readonly options: ProposalLayerOptions = {},
  ) {}

  async load(examId: number): Promise<void> {
    this.examId = examId;
    this.review ??= new ReviewPanel(this.api, examId, {
      canReview: !!this.options.canReview,
      canBulk: !!this.options.canRun,
      reasons: this.options.reasons ?? [],
      imageName: this.options.imageName ?? ((id) => `image ${id}`),
      reviewed: async () => {
        await this.options.onReviewed?.();
        await this.load(this.examId);
      },
      selected: (id) => {
        this.selectedId = id;
        this.draw();
      },
      opacity: (value) => {
        this.opacity = value;
        this.draw();
      },
    });
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
    await this.loadPictures();
  }

  /** Fetch each map and mask once and colour it; redraw when they are ready. */
  private async loadPictures(): Promise<void> {
    const wanted = this.proposals.flatMap((p) => [
      ...(p.heatmap_url ? [[p.heatmap_url, "map"] as const] : []),
      ...(p.mask_url ? [[p.mask_url, "mask"] as const] : []),
    ]);
    const missing = wanted.filter(([url]) => !this.pictures.has(url));
    if (!missing.length) return;
    await Promise.all(
      missing.map(async ([url, kind]) => {
        try {
          const response = await fetch(url, { credentials: "same-origin" });
          if (!response.ok) return;
          const bitmap = await createImageBitmap(await response.blob());
          const canvas = document.createElement("canvas");
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
          const context = canvas.getContext("2d");
          if (!context) return;
          context.drawImage(bitmap, 0, 0);
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
          colourise(pixels.data, kind);
          context.putImageData(pixels, 0, 0);
          this.pictures.set(url, canvas.toDataURL("image/png"));
        } catch {
          // A map that cannot be read is left out; the circles and scores still show.
        }
      }),
    );
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
      button.addEventListener("click", () => void this.runPrediction(button, progress, out));
      parts.push(h("div", { className: "ai-run" }, button), progress.el, out);
      progress.el.hidden = true;
    }
    if (this.review && state.kind === "shown") {
      this.review.render(this.proposals);
      parts.push(this.review.el);
    }
    this.statusEl.replaceChildren(...parts);
  }

  /** Pre-annotate this exam (the project's active versions for its modalities), show the Job's
   * progress, then load what it produced. */
  private async runPrediction(button: HTMLButtonElement, progress: JobProgress, out: HTMLElement): Promise<void> {
    button.disabled = true;
    progress.el.hidden = false;
    progress.starting("Running the model on this exam…");
    try {
      const job = await progress.track(this.api, await this.api.post<Job>(`/api/exams/${this.examId}/preannotate/`));
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
    const corner = (x: number, y: number) => viewport.worldToCanvas([x * sx, y * sy, 0] as never);
    let pictures = 0;
    for (const p of this.proposals.filter((x) => x.image === image.id)) {
      for (const [url, kind] of [[p.heatmap_url, p.heatmap_kind ?? "map"], [p.mask_url, "mask"]] as const) {
        const href = url ? this.pictures.get(url) : undefined;
        if (!href) continue;
        const picture = document.createElementNS(SVG, "image");
        picture.setAttribute("href", href);
        picture.setAttribute("width", String(image.columns));
        picture.setAttribute("height", String(image.rows));
        picture.setAttribute("preserveAspectRatio", "none");
        picture.setAttribute("opacity", String(this.opacity));
        picture.setAttribute("transform", pictureMatrix(corner(0, 0), corner(image.columns, 0), corner(0, image.rows), image.columns, image.rows));
        picture.setAttribute("class", `proposal-map ${kind}`);
        picture.dataset.proposal = String(p.id);
        svg.append(picture);
        pictures += 1;
      }
    }
    svg.dataset.maps = String(pictures);
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
      circle.setAttribute("class", `proposal ${this.style}${c.id === this.selectedId ? " selected" : ""}`);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(centre[0] + r + 3));
      label.setAttribute("y", String(centre[1] - r));
      label.textContent = c.score === null ? c.model : `${(c.score * 100).toFixed(0)}%`;
      const title = document.createElementNS(SVG, "title");
      title.textContent = c.model;
      circle.append(title);
      svg.append(circle, label);
    }
  }
}
