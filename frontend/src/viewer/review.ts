/** Review of the machine proposals of an exam, in the side panel under the findings: the class
 * scores of each reading (a classifier's can be recorded as the reader's label: its
 * `label_choice`, for the exam or one breast), the proposals to review (Accept, Edit, Reject with a reason of the
 * project's list), Accept all above a threshold after a confirmation, and the maps' opacity.
 * The server does the work (POST /api/proposals/{id}/accept|edit|reject/,
 * /api/exams/{id}/proposals/accept-all/): an accepted proposal becomes a human finding whose
 * origin names it. */

import type { Api } from "../api";
import { ApiError } from "../api";
import { h } from "../findings/dom";
import { errorText } from "../ml/common";
import { formatPercent } from "../ml/format";
import type { Proposal } from "./proposals";

export interface ScoreBlock {
  model: string;
  scores: [string, number][];
  breasts: [string, number][];
  /** Set while the scores can be accepted as the reader's label: the proposal and the label. */
  accept?: { id: number; field: string; value: string };
}

/** What a label choice reads as: "density C", "BI-RADS 4", "pathology malignant" (pure). */
export function labelText(choice: { field: string; value: string }): string {
  return `${choice.field === "birads" ? "BI-RADS" : choice.field} ${choice.value}`;
}

/** Readings' exam-level class scores, one block per model version (pure). */
export function scoreBlocks(proposals: Proposal[]): ScoreBlock[] {
  return proposals
    .filter((p) => p.image === null && p.outputs.scores && Object.keys(p.outputs.scores).length)
    .map((p) => {
      const breasts = Object.entries(p.outputs.breasts ?? {}).map(([side, scores]) => {
        const values = Object.values(scores);
        return [side, values.length <= 2 ? values.at(-1) ?? 0 : Math.max(...values)] as [string, number];
      });
      const block: ScoreBlock = {
        model: p.model ?? "model",
        scores: Object.entries(p.outputs.scores ?? {}).sort((a, b) => b[1] - a[1]),
        breasts: breasts.sort(),
      };
      if (p.label_choice && (p.provenance ?? "proposed") === "proposed") block.accept = { id: p.id, ...p.label_choice };
      return block;
    });
}

/** The proposals a reader can review: image level, outlining a region, not reviewed yet (pure). */
export function reviewable(proposals: Proposal[]): Proposal[] {
  return proposals.filter(
    (p) => p.image !== null && (p.provenance ?? "proposed") === "proposed" && ((p.outputs.lesions?.length ?? 0) > 0 || !!p.mask_url),
  );
}

/** How many reviewable proposals score at least `threshold` (pure; the server decides). */
export function countAbove(proposals: Proposal[], threshold: number): number {
  return reviewable(proposals).filter((p) => (p.outputs.probability ?? 0) >= threshold).length;
}

/** What a proposal is, in a few words: its image, score and what it outlines (pure). */
export function describeProposal(p: Proposal, imageName: (id: number) => string): string {
  const lesions = p.outputs.lesions?.length ?? 0;
  const parts = [
    imageName(p.image ?? 0),
    formatPercent(p.outputs.probability ?? 0),
    lesions ? `${lesions} lesion${lesions === 1 ? "" : "s"}` : "",
    p.mask_url ? "mask" : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

export interface ReviewPanelOptions {
  canReview: boolean;
  canBulk: boolean;
  reasons: string[];
  imageName: (id: number) => string;
  /** Called after the server recorded a review (reload findings and proposals). */
  reviewed: () => Promise<void>;
  /** The selection changed (the layer highlights it). */
  selected: (id: number | null) => void;
  opacity: (value: number) => void;
}

export class ReviewPanel {
  readonly el: HTMLElement = h("div", { className: "ai-review", dataset: { testid: "ai-review" } });
  private proposals: Proposal[] = [];
  selectedId: number | null = null;
  private readonly note = h("p", { className: "ai-note", role: "status" });

  constructor(
    private readonly api: Api,
    private readonly examId: number,
    private readonly options: ReviewPanelOptions,
  ) {}

  render(proposals: Proposal[]): void {
    this.proposals = proposals;
    const todo = reviewable(proposals);
    if (this.selectedId !== null && !todo.some((p) => p.id === this.selectedId)) this.selectedId = null;
    const blocks = scoreBlocks(proposals).flatMap((b) => {
      const table = h(
        "table",
        { className: "ai-scores", dataset: { testid: "ai-scores" } },
        h("caption", {}, b.model),
        ...b.scores.map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", {}, formatPercent(value)))),
        ...b.breasts.map(([side, value]) => h("tr", { className: "breast" }, h("th", {}, `${side === "L" ? "left" : "right"} breast`), h("td", {}, formatPercent(value)))),
      );
      const accept = b.accept;
      if (!accept || !this.options.canReview) return [table];
      // The scores as the reader's own label: the exam's, or one breast's from its scores.
      const sides = b.breasts.map(([side]) =>
        h("button", { type: "button", title: `Record the ${side === "L" ? "left" : "right"} breast's top class as its label`, on: { click: () => void this.acceptLabel(accept.id, side) } }, side === "L" ? "left" : "right"),
      );
      const row = h(
        "p",
        { className: "ai-accept-label", dataset: { testid: "ai-accept-label" } },
        h("button", { type: "button", className: "primary", on: { click: () => void this.acceptLabel(accept.id, "") } }, `Record ${labelText(accept)}`),
        sides.length ? " or for one breast: " : "",
        ...sides,
      );
      return [table, row];
    });
    const slider = h("input", {
      type: "range",
      min: "0",
      max: "100",
      value: "45",
      "aria-label": "Map opacity",
      dataset: { testid: "map-opacity" },
      on: { input: (e: Event) => this.options.opacity(Number((e.target as HTMLInputElement).value) / 100) },
    });
    const items = todo.map((p) => this.item(p));
    const parts: (Node | string)[] = [...blocks, h("label", { className: "ai-opacity" }, "Map opacity ", slider)];
    if (items.length) parts.push(h("ol", { className: "ai-proposals", dataset: { testid: "ai-proposals" } }, ...items));
    else if (proposals.some((p) => p.image !== null)) parts.push(h("p", { className: "muted" }, "Every proposal of this exam has been reviewed."));
    if (this.options.canBulk && items.length) parts.push(this.acceptAll());
    parts.push(this.note);
    this.el.replaceChildren(...parts);
  }

  private item(p: Proposal): HTMLElement {
    const li = h("li", { dataset: { proposal: String(p.id) }, className: p.id === this.selectedId ? "selected" : "" });
    const text = h("button", { type: "button", className: "link", on: { click: () => this.select(p.id) } }, describeProposal(p, this.options.imageName));
    li.append(text);
    if (!this.options.canReview) return li;
    const reasons = h("select", { "aria-label": "Reason", name: "reason" }, h("option", { value: "" }, "Reject because…"), ...this.options.reasons.map((r) => h("option", { value: r }, r)));
    reasons.addEventListener("change", () => {
      if (reasons.value) void this.reject(p.id, reasons.value);
    });
    li.append(
      h("span", { className: "ai-actions" },
        h("button", { type: "button", title: "Accept as a finding (y)", on: { click: () => void this.accept(p.id) } }, "Accept"),
        (p.outputs.lesions?.length ?? 0) > 0
          ? h("button", { type: "button", title: "Edit the circle, then save it as a finding (u)", on: { click: () => this.openEdit(p.id) } }, "Edit")
          : null,
        reasons,
      ),
    );
    return li;
  }

  private acceptAll(): HTMLElement {
    const threshold = h("input", { type: "number", min: "0", max: "1", step: "0.05", value: "0.5", "aria-label": "Threshold", name: "threshold" });
    const box = h("div", { className: "ai-accept-all" });
    const ask = h("button", { type: "button", title: "Accept every proposal scoring at least the threshold (q)" }, "Accept all ≥");
    ask.addEventListener("click", () => void this.askAcceptAll(Number(threshold.value), box));
    box.append(ask, threshold);
    return box;
  }

  /** The server says how many that would be; a second click confirms. */
  async askAcceptAll(threshold: number, box?: HTMLElement): Promise<void> {
    const where = box ?? this.el.querySelector<HTMLElement>(".ai-accept-all");
    if (!where) return;
    try {
      await this.api.post(`/api/exams/${this.examId}/proposals/accept-all/`, { threshold });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 400) {
        this.say(errorText(err));
        return;
      }
      where.querySelector(".ai-confirm")?.remove();
      const confirm = h("button", { type: "button", className: "primary ai-confirm", on: { click: () => void this.confirmAll(threshold) } }, "Confirm");
      where.append(h("span", { className: "ai-confirm" }, `${errorText(err)} `, confirm));
    }
  }

  private async confirmAll(threshold: number): Promise<void> {
    await this.run(() => this.api.post(`/api/exams/${this.examId}/proposals/accept-all/`, { threshold, confirm: true }), "Accepted.");
  }

  select(id: number | null): void {
    this.selectedId = id;
    for (const li of this.el.querySelectorAll<HTMLElement>("li[data-proposal]")) li.classList.toggle("selected", li.dataset.proposal === String(id));
    this.options.selected(id);
  }

  /** Select the next reviewable proposal (g). */
  step(): void {
    const todo = reviewable(this.proposals);
    if (!todo.length) return;
    const at = todo.findIndex((p) => p.id === this.selectedId);
    this.select(todo[(at + 1) % todo.length]!.id);
  }

  private current(id?: number): number | null {
    return id ?? this.selectedId ?? reviewable(this.proposals)[0]?.id ?? null;
  }

  async accept(id?: number): Promise<void> {
    const target = this.current(id);
    if (target === null || !this.options.canReview) return;
    await this.run(() => this.api.post(`/api/proposals/${target}/accept/`, {}), "Accepted as a finding.");
  }

  /** The exam-level scores as the reader's exam label, or one breast's (laterality L/R). */
  async acceptLabel(id: number, laterality: string): Promise<void> {
    if (!this.options.canReview) return;
    await this.run(() => this.api.post(`/api/proposals/${id}/accept/`, laterality ? { laterality } : {}), "Recorded as your label.");
  }

  async reject(id: number, reason: string): Promise<void> {
    await this.run(() => this.api.post(`/api/proposals/${id}/reject/`, { reason }), "Rejected.");
  }

  /** Focus the reason select of the selected proposal (j). */
  focusReject(): void {
    const target = this.current();
    if (target === null) return;
    this.select(target);
    this.el.querySelector<HTMLSelectElement>(`li[data-proposal="${target}"] select`)?.focus();
  }

  /** The edit form: the first circle's centre and radius, to correct before saving (u). */
  openEdit(id?: number): void {
    const target = this.current(id);
    const p = this.proposals.find((x) => x.id === target);
    const lesion = p?.outputs.lesions?.[0];
    if (!p || !lesion || !this.options.canReview) return;
    this.select(p.id);
    const li = this.el.querySelector<HTMLElement>(`li[data-proposal="${p.id}"]`);
    if (!li || li.querySelector("form")) return;
    const field = (name: string, label: string, value: number) =>
      h("label", {}, `${label} `, h("input", { type: "number", name, step: "any", value: String(Math.round(value * 10) / 10), "aria-label": label }));
    const form = h(
      "form",
      { className: "ai-edit", "aria-label": "Edit proposal" },
      field("cx", "Centre x", lesion.cx),
      field("cy", "Centre y", lesion.cy),
      field("radius", "Radius", lesion.radius ?? 20),
      h("button", { type: "submit", className: "primary" }, "Save edit"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = (name: string) => Number((form.elements.namedItem(name) as HTMLInputElement).value);
      const r = Math.max(1, value("radius"));
      const body = { marks: [{ image: p.image, kind: "ellipse", geometry: { cx: value("cx"), cy: value("cy"), rx: r, ry: r } }] };
      void this.run(() => this.api.post(`/api/proposals/${p.id}/edit/`, body), "Saved as an edited finding.");
    });
    li.append(form);
    form.querySelector<HTMLInputElement>("input[name=radius]")?.focus();
  }

  private async run(call: () => Promise<unknown>, done: string): Promise<void> {
    try {
      await call();
      this.say(done);
      await this.options.reviewed();
      this.say(done);
    } catch (err) {
      this.say(errorText(err));
    }
  }

  private say(text: string): void {
    this.note.textContent = text;
  }
}
