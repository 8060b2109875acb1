import { describe, expect, it, vi } from "vitest";
import { Api, ApiError } from "../../src/api";
import { nextDelay, pollJob, PollAborted, type Job } from "../../src/jobs";

function job(fields: Partial<Job>): Job {
  return {
    id: "7", project: 1, kind: "train", status: "running", progress: 0, message: "", result: null, error: "",
    created_by: "alice", created_at: "2026-12-04T10:00:00Z", started_at: null, finished_at: null, cancel_requested: false,
    ...fields,
  };
}

/** An Api whose GET /api/jobs/7/ answers the given replies in turn (the last one repeats). */
function serverReplying(replies: (Job | ApiError)[]) {
  const calls: string[] = [];
  const fetchImpl = vi.fn(async (url: string) => {
    calls.push(url);
    const next = replies.length > 1 ? replies.shift()! : replies[0]!;
    if (next instanceof ApiError) {
      return new Response(JSON.stringify({ error: { code: "x", message: next.message } }), { status: next.status });
    }
    return new Response(JSON.stringify(next), { status: 200 });
  });
  return { api: new Api("/api/", "t", fetchImpl as unknown as typeof fetch), calls };
}

const opts = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };

describe("nextDelay", () => {
  it("starts at the initial wait, grows while nothing changes, is capped, and resets on a change", () => {
    const waits: number[] = [];
    let d: number | null = null;
    for (const changed of [true, false, false, false, false, false, true]) {
      d = nextDelay(d, changed, opts);
      waits.push(d);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 100]);
  });
});

describe("pollJob", () => {
  it("polls /api/jobs/{id}/ until the job has finished, reporting each change once", async () => {
    const { api, calls } = serverReplying([
      job({ progress: 0.1, message: "Epoch 1/3" }),
      job({ progress: 0.1, message: "Epoch 1/3" }),
      job({ progress: 0.5, message: "Epoch 2/3" }),
      job({ status: "succeeded", progress: 1, message: "Done." }),
    ]);
    const sleeps: number[] = [];
    const seen: string[] = [];
    const done = await pollJob(api, "7", {
      ...opts,
      sleep: async (ms) => void sleeps.push(ms),
      onUpdate: (j) => seen.push(`${j.status} ${j.message}`),
    });
    expect(done.status).toBe("succeeded");
    expect(calls).toEqual(Array(4).fill("/api/jobs/7/"));
    expect(seen).toEqual(["running Epoch 1/3", "running Epoch 2/3", "succeeded Done."]);
    // backs off after the unchanged answer, back to the initial wait after a change
    expect(sleeps).toEqual([100, 100, 200, 100]);
  });

  it("resolves at once, without a request, for a job that has already finished", async () => {
    const { api, calls } = serverReplying([job({})]);
    const finished = job({ status: "failed", error: "No training data" });
    const onUpdate = vi.fn();
    expect(await pollJob(api, finished, { ...opts, onUpdate })).toBe(finished);
    expect(calls).toEqual([]);
    expect(onUpdate).toHaveBeenCalledWith(finished);
  });

  it("rides out a few server errors but gives up at once on a job it may not see", async () => {
    const flaky = serverReplying([new ApiError(502, "x", "Bad gateway"), job({ status: "cancelled" })]);
    expect((await pollJob(flaky.api, "7", { ...opts, sleep: async () => {} })).status).toBe("cancelled");

    const gone = serverReplying([new ApiError(404, "not_found", "No such job.")]);
    await expect(pollJob(gone.api, "7", { ...opts, sleep: async () => {} })).rejects.toMatchObject({ status: 404 });
    expect(gone.calls).toHaveLength(1);

    const down = serverReplying([new ApiError(503, "x", "Down")]);
    await expect(pollJob(down.api, "7", { ...opts, maxErrors: 3, sleep: async () => {} })).rejects.toMatchObject({ status: 503 });
    expect(down.calls).toHaveLength(3);
  });

  it("stops when its signal is aborted", async () => {
    const { api } = serverReplying([job({})]);
    const stop = new AbortController();
    let n = 0;
    const polling = pollJob(api, "7", { ...opts, signal: stop.signal, sleep: async () => void (++n === 3 && stop.abort()) });
    await expect(polling).rejects.toBeInstanceOf(PollAborted);
  });
});
