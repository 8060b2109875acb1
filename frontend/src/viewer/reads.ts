/** The reader's own read of an exam in a blind-first-read project (annotations/reads.py): a
 * "Submit first read" button while the model's proposals are withheld, then "Submit final read"
 * once they are revealed; both submissions are final (the server answers 409 to a second one).
 * Pending saves are flushed first, so the submitted read is what the panel shows. */

import { ApiError, type Api, type Schemas } from "../api";
import { h } from "../findings/dom";
import "../readers/readers.css";

export type ReadingState = Schemas["ReadingState"];

export interface ReadsHooks {
  /** Save every pending finding and label change (the findings store's flush). */
  flush: () => Promise<void>;
  /** Load the proposals again (they are revealed after the first read). */
  reveal: () => Promise<void>;
}

/** What the section says and offers for a reading state (pure, for the unit tests). */
export function readStep(state: ReadingState): { step: "first" | "final" | "done"; text: string } {
  if (!state.first_read_submitted_at) {
    return { step: "first", text: "Blind read: record your own findings and labels, then submit your first read to see the model's proposals." };
  }
  if (!state.final_read_submitted_at) {
    return { step: "final", text: `First read submitted ${when(state.first_read_submitted_at)}. Review the proposals, correct your read, then submit it as final.` };
  }
  return { step: "done", text: `First read submitted ${when(state.first_read_submitted_at)}; final read ${when(state.final_read_submitted_at)}.` };
}

function when(iso: string): string {
  return iso.slice(0, 16).replace("T", " ");
}

export class ReadsSection {
  readonly el: HTMLElement = h("section", { className: "reads", dataset: { testid: "reads" }, "aria-live": "polite" });
  state: ReadingState | null = null;

  constructor(
    private readonly api: Api,
    private readonly examId: number,
    private readonly hooks: ReadsHooks,
  ) {
    this.el.hidden = true;
  }

  async load(): Promise<void> {
    try {
      this.state = await this.api.GET("/api/worklist/{exam_id}/read/", { path: { exam_id: this.examId } });
    } catch {
      this.state = null;
    }
    this.render();
  }

  private render(message = "", error = false): void {
    const state = this.state;
    this.el.hidden = !state?.blind_first_read;
    if (!state?.blind_first_read) return;
    const { step, text } = readStep(state);
    this.el.dataset.step = step;
    const parts: (Node | string)[] = [h("h3", {}, "My read"), h("p", { className: "muted" }, text)];
    if (step !== "done") {
      const label = step === "first" ? "Submit first read" : "Submit final read";
      parts.push(h("button", { className: "primary", dataset: { action: `submit-${step}-read` }, on: { click: (e: Event) => void this.submit(step, e.currentTarget as HTMLButtonElement) } }, label));
    }
    if (message) parts.push(h("p", { className: error ? "error" : "muted", role: error ? "alert" : "status" }, message));
    this.el.replaceChildren(...parts);
  }

  private async submit(step: "first" | "final", button: HTMLButtonElement): Promise<void> {
    const what = step === "first" ? "first" : "final";
    if (!window.confirm(`Submit your ${what} read? It cannot be changed afterwards.`)) return;
    button.disabled = true;
    try {
      await this.hooks.flush();
      const path = step === "first" ? "/api/worklist/{exam_id}/first-read/" : "/api/worklist/{exam_id}/final-read/";
      this.state = await this.api.POST(path, { path: { exam_id: this.examId } });
      this.render();
      if (step === "first") await this.hooks.reveal();
    } catch (err) {
      const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
      if (err instanceof ApiError && err.isConflict) await this.load();
      this.render(text, true);
    }
  }
}
