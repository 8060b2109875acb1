/** Waiting on a Job (GET /api/jobs/{id}/): training, evaluation, prediction and imports all run as
 * Jobs with a status, a progress fraction and a message. One poller for every page: it asks again
 * soon while the job moves and backs off while it does not, reports each change, and resolves
 * with the finished job. */

import type { Schemas } from "./api";
import { ApiError, type Api } from "./api";

export type JobStatus = Schemas["JobStatusEnum"];

/** The API's Job (senolab/jobs/api/serializers.py), from the generated schema; the JSON result
 * and the creator (absent for a command-line job) typed as the pages read them. */
export type Job = Omit<Schemas["Job"], "result" | "created_by"> & {
  result: Record<string, unknown> | null;
  created_by: string | null;
};

export const FINISHED: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

export function isFinished(job: Pick<Job, "status">): boolean {
  return FINISHED.has(job.status);
}

export interface PollOptions {
  /** Called with every answer whose status, progress or message differs from the last one. */
  onUpdate?: (job: Job) => void;
  /** First wait, and the wait again after a change (ms). */
  initialDelayMs?: number;
  /** The longest wait while nothing changes (ms). */
  maxDelayMs?: number;
  /** How much longer each wait gets while nothing changes. */
  factor?: number;
  /** Network or server errors in a row before giving up (a 404 or 403 gives up at once). */
  maxErrors?: number;
  signal?: AbortSignal;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** The waits of a poll that sees no change: initial, ×factor each time, capped (pure). */
export function nextDelay(previous: number | null, changed: boolean, o: Required<Pick<PollOptions, "initialDelayMs" | "maxDelayMs" | "factor">>): number {
  if (previous === null || changed) return o.initialDelayMs;
  return Math.min(o.maxDelayMs, Math.round(previous * o.factor));
}

export class PollAborted extends Error {
  constructor() {
    super("Stopped waiting for the job.");
    this.name = "PollAborted";
  }
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function signature(job: Job): string {
  return `${job.status}|${job.progress}|${job.message}`;
}

/** Poll until the job has finished; resolves with it (whatever its status). A job given as an
 * object that has already finished resolves at once, without a request. */
export async function pollJob(api: Api, job: string | Job, options: PollOptions = {}): Promise<Job> {
  const o = { initialDelayMs: 1000, maxDelayMs: 10_000, factor: 1.6, maxErrors: 5, ...options };
  const sleep = o.sleep ?? realSleep;
  const id = typeof job === "string" ? job : job.id;
  let last = typeof job === "string" ? "" : signature(job);
  if (typeof job !== "string") {
    o.onUpdate?.(job);
    if (isFinished(job)) return job;
  }
  let delay: number | null = null;
  let changed = true;
  let errors = 0;
  for (;;) {
    delay = nextDelay(delay, changed, o);
    await sleep(delay);
    if (o.signal?.aborted) throw new PollAborted();
    let current: Job;
    try {
      current = await api.get<Job>(`/api/jobs/${id}/`);
      errors = 0;
    } catch (err) {
      const fatal = err instanceof ApiError && (err.status === 403 || err.status === 404);
      if (fatal || ++errors >= o.maxErrors) throw err;
      changed = false;
      continue;
    }
    if (o.signal?.aborted) throw new PollAborted();
    const now = signature(current);
    changed = now !== last;
    last = now;
    if (changed) o.onUpdate?.(current);
    if (isFinished(current)) return current;
  }
}
