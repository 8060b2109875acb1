/** Pre-annotating from the worklist (owners and reviewers; POST /api/preannotations/): the
 * ticked exams, or the whole project when none is ticked, in one Job whose progress bar stays
 * on the page; a Job that failed or was cancelled can be resumed, and skips the exams it had
 * finished (POST /api/preannotations/{job}/resume/). */

import type { Api, Schemas } from "../api";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { JobProgress } from "../ml/progress";

/** The request for the current selection: the ticked exams, or none for the whole project
 * (pure, for the unit tests). */
export function preannotateBody(project: number, selected: Iterable<number>): Schemas["PreannotateRequest"] {
  const exams = [...selected].sort((a, b) => a - b);
  return exams.length ? { project, exams } : { project };
}

/** What the button says for a selection (pure). */
export function preannotateLabel(count: number): string {
  return count ? `Pre-annotate ${count} selected` : "Pre-annotate the project";
}

export class PreannotatePanel {
  readonly el: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly resume: HTMLButtonElement;
  private readonly out = h("span", { className: "muted", role: "status", dataset: { testid: "preannotate-result" } });
  private readonly progress = new JobProgress("pre-annotation");
  private job: Job | null = null;

  constructor(
    private readonly api: Api,
    private readonly project: number,
    private readonly selected: () => ReadonlySet<number>,
  ) {
    this.button = h("button", { type: "button", dataset: { action: "preannotate" }, on: { click: () => void this.start() } }, preannotateLabel(0));
    this.resume = h("button", { type: "button", hidden: true, dataset: { action: "preannotate-resume" }, on: { click: () => void this.resumeJob() } }, "Resume");
    this.progress.el.hidden = true;
    this.el = h("div", { className: "preannotate", dataset: { testid: "preannotate" } }, this.button, this.resume, this.progress.el, this.out);
  }

  /** Called when the selection changes. */
  refresh(): void {
    this.button.textContent = preannotateLabel(this.selected().size);
  }

  private async start(): Promise<void> {
    const body = preannotateBody(this.project, this.selected());
    await this.follow(() => this.api.POST("/api/preannotations/", { body }) as unknown as Promise<Job>);
  }

  private async resumeJob(): Promise<void> {
    const id = this.job?.id;
    if (!id) return;
    await this.follow(() => this.api.POST("/api/preannotations/{job_id}/resume/", { path: { job_id: id } }) as unknown as Promise<Job>);
  }

  private async follow(request: () => Promise<Job>): Promise<void> {
    this.button.disabled = true;
    this.resume.hidden = true;
    this.progress.el.hidden = false;
    this.progress.starting("Pre-annotating with the project's active models…");
    this.out.textContent = "";
    this.out.classList.remove("error");
    try {
      this.job = await request();
      const done = await this.progress.track(this.api, this.job);
      this.job = done;
      this.resume.hidden = done.status === "succeeded";
      this.out.textContent = done.status === "succeeded" ? "Proposals are ready: open an exam to review them." : "";
    } catch (err) {
      this.progress.el.hidden = true;
      this.out.classList.add("error");
      this.out.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      this.button.disabled = false;
    }
  }
}
