import { describe, expect, it, vi } from "vitest";
import { Api, ApiError, fillPath } from "../src/api";

function reply(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status });
}

describe("Api", () => {
  it("sends the CSRF token on writes and not on reads", async () => {
    const fetchImpl = vi.fn(async () => reply(200, { ok: true }));
    const api = new Api("/api/", "tok", fetchImpl as unknown as typeof fetch);
    await api.get("exams/", { project: 3, modality: "" });
    await api.post("findings/", { exam: 1 });
    const [readUrl, read] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    const [, write] = fetchImpl.mock.calls[1] as unknown as [string, RequestInit];
    expect(readUrl).toBe("/api/exams/?project=3");
    expect((read.headers as Record<string, string>)["X-CSRFToken"]).toBeUndefined();
    expect((write.headers as Record<string, string>)["X-CSRFToken"]).toBe("tok");
  });

  it("turns the API's error format into an ApiError with its detail", async () => {
    const body = { error: { code: "conflict", message: "Saved by someone else", detail: { current: { version: 4 } } } };
    const api = new Api("/api/", "t", (async () => reply(409, body)) as unknown as typeof fetch);
    const err = await api.patch("findings/1/", { version: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).isConflict).toBe(true);
    expect((err as ApiError).message).toBe("Saved by someone else");
    expect((err as ApiError).detail).toEqual({ current: { version: 4 } });
  });

  it("follows pagination to the last page", async () => {
    const pages: Record<string, unknown> = {
      "/api/exams/": { count: 3, next: "/api/exams/?page=2", previous: null, results: [1, 2] },
      "/api/exams/?page=2": { count: 3, next: null, previous: "/api/exams/", results: [3] },
    };
    const api = new Api("/api/", "t", (async (url: string) => reply(200, pages[url])) as unknown as typeof fetch);
    expect(await api.all<number>("exams/")).toEqual([1, 2, 3]);
  });

  it("sends a typed call to the schema's path with its parameters, query and body", async () => {
    const fetchImpl = vi.fn(async () => reply(201, { id: 7, username: "ann", role: "annotator", created_at: "" }));
    const api = new Api("/api/", "tok", fetchImpl as unknown as typeof fetch);
    const member = await api.POST("/api/projects/{project_pk}/members/", {
      path: { project_pk: 3 },
      body: { username: "ann", role: "annotator" },
    });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/projects/3/members/");
    expect(init.method).toBe("POST");
    expect(JSON.parse(String(init.body))).toEqual({ username: "ann", role: "annotator" });
    expect(member.username).toBe("ann");
  });

  it("refuses a schema path whose parameter is missing", () => {
    expect(() => fillPath("/api/projects/{id}/", {})).toThrow(/needs id/);
    expect(fillPath("/api/exams/{id}/priors/", { id: 12 })).toBe("/api/exams/12/priors/");
  });
});
