/** A Job's progress bar: status, percentage, message; the same element on every page that waits
 * on a Job (training, evaluation, prediction). `track` polls the job (src/jobs.ts) and updates it. */

import "./ml.css";
import type { Api } from "../api";
import { h } from "../findings/dom";
import { isFinished, pollJob, type Job } from "../jobs";
import { formatPercent, statusText } from "./format";

export class JobProgress {
  readonly el: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly fill: HTMLElement;
  private readonly status: HTMLElement;
  private readonly pct: HTMLElement;
  private readonly message: HTMLElement;

  constructor(label: string) {
    this.fill = h("span", { className: "fill" });
    this.bar = h(
      "div",
      { className: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100" },
      this.fill,
    );
    this.status = h("span", { className: "status-pill" });
    this.pct = h("span", { className: "pct" });
    this.message = h("span", { className: "message muted" });
    this.el = h("div", { className: "job-progress", dataset: { testid: "job-progress" } }, this.status, this.bar, this.pct, this.message);
  }

  /** Before the server answers (an eager job runs within the request): a moving bar. */
  starting(message = "Starting…"): void {
    this.el.dataset.status = "starting";
    this.bar.removeAttribute("aria-valuenow");
    this.bar.classList.add("indeterminate");
    this.fill.style.width = "";
    this.status.className = "status-pill queued";
    this.status.textContent = "starting";
    this.pct.textContent = "";
    this.message.textContent = message;
  }

  show(job: Pick<Job, "status" | "progress" | "message" | "error">): void {
    const pct = Math.round(Math.max(0, Math.min(1, job.progress || 0)) * 100);
    const done = job.status === "succeeded" ? 100 : pct;
    this.el.dataset.status = job.status;
    this.bar.classList.remove("indeterminate");
    this.bar.setAttribute("aria-valuenow", String(done));
    this.fill.style.width = `${done}%`;
    this.status.className = `status-pill ${job.status}`;
    this.status.textContent = statusText(job.status);
    this.pct.textContent = formatPercent(done / 100);
    this.message.textContent = job.status === "failed" && job.error ? job.error : job.message;
  }

  /** Show the job and follow it until it ends; resolves with the finished job. */
  async track(api: Api, job: Job, onUpdate?: (job: Job) => void): Promise<Job> {
    this.show(job);
    if (isFinished(job)) return job;
    return pollJob(api, job, {
      onUpdate: (current) => {
        this.show(current);
        onUpdate?.(current);
      },
    });
  }
}
