/** An in-memory stand-in for the annotations API (versions, 409 with detail.current, soft
 * delete, exam labels), behind a fake fetch that can also fail like a network. */

import { Api } from "../../src/api";
import type { ExamLabel, Finding, Mark } from "../../src/findings/types";

interface Call {
  method: string;
  url: string;
  body: Record<string, unknown> | undefined;
}

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export class FakeServer {
  findings = new Map<number, Finding>();
  labels: ExamLabel[] = [];
  calls: Call[] = [];
  /** The next N requests fail as if the network were down. */
  failNext = 0;
  /** The next N writes answer 503. */
  unavailableNext = 0;
  private nextId = 100;
  private nextMarkId = 500;
  private nextFile = 1;

  readonly fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = String(input);
    const method = (init.method ?? "GET").toUpperCase();
    const body = init.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : undefined;
    this.calls.push({ method, url, body });
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new TypeError("Failed to fetch");
    }
    if (method !== "GET" && this.unavailableNext > 0) {
      this.unavailableNext -= 1;
      return json(503, { error: { code: "unavailable", message: "Try again later." } });
    }
    return this.route(method, new URL(url, "http://test"), body);
  };

  api(): Api {
    return new Api("/api/", "token", this.fetch as typeof fetch);
  }

  writes(): Call[] {
    return this.calls.filter((c) => c.method !== "GET");
  }

  /** Another reader saves the finding (its version moves on). */
  editElsewhere(id: number, patch: Partial<Finding>): Finding {
    const current = this.findings.get(id);
    if (!current) throw new Error(`no finding ${id}`);
    const next = { ...current, ...patch, version: current.version + 1 };
    this.findings.set(id, next);
    return next;
  }

  seed(partial: Partial<Finding> = {}): Finding {
    const id = this.nextId++;
    const finding: Finding = {
      id,
      project: 1,
      exam: 7,
      source: "human",
      finding_type: "",
      birads: "",
      pathology: "",
      laterality: "",
      attributes: {},
      note: "",
      version: 1,
      deleted: false,
      created_by: 1,
      updated_by: 1,
      created_at: null,
      updated_at: null,
      marks: [],
      ...partial,
    };
    finding.marks = this.storeMarks(finding.marks as unknown as Record<string, unknown>[], []);
    this.findings.set(id, finding);
    return finding;
  }

  private storeMarks(sent: Record<string, unknown>[], old: Mark[]): Mark[] {
    const byId = new Map(old.map((m) => [m.id, m]));
    const out: Mark[] = [];
    for (const m of sent) {
      if (m.id != null && !byId.has(m.id as number)) throw new Error(`mark ${m.id} is not of this finding`);
      if (m.kind === "mask" && m.id == null && !m.mask_png_base64) throw new Error("a new mask needs an image");
      const id = (m.id as number | undefined) ?? this.nextMarkId++;
      out.push({
        id,
        image: (m.image as number | undefined) ?? null,
        slide: (m.slide as number | undefined) ?? null,
        frame: (m.frame as number | undefined) ?? 0,
        kind: m.kind as Mark["kind"],
        geometry: m.geometry as Record<string, unknown>,
        // As the API: the address names the mark's file, a new one for each image sent.
        ...(m.kind === "mask"
          ? { mask_url: m.mask_png_base64 || !byId.get(id)?.mask_url ? `/api/marks/${id}/mask.png?v=${this.nextFile++}` : byId.get(id)!.mask_url }
          : {}),
      });
    }
    return out.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  }

  private route(method: string, url: URL, body: Record<string, unknown> | undefined): Response {
    const path = url.pathname;
    if (path === "/api/findings/" && method === "GET") {
      const exam = Number(url.searchParams.get("exam"));
      const results = [...this.findings.values()].filter((f) => f.exam === exam && !f.deleted);
      return json(200, { count: results.length, next: null, previous: null, results });
    }
    if (path === "/api/findings/" && method === "POST") {
      try {
        const marks = this.storeMarks((body?.marks as Record<string, unknown>[]) ?? [], []);
        const created = this.seed({ ...(body as Partial<Finding>), marks: [] });
        created.marks = marks;
        return json(201, created);
      } catch (err) {
        return json(400, { error: { code: "invalid", message: String(err) } });
      }
    }
    const one = path.match(/^\/api\/findings\/(\d+)\/$/);
    if (one) {
      const current = this.findings.get(Number(one[1]));
      if (!current || current.deleted) return json(404, { error: { code: "not_found", message: "No such finding." } });
      const version = method === "DELETE" ? Number(url.searchParams.get("version")) : Number(body?.version);
      if (version !== current.version) {
        return json(409, {
          error: { code: "conflict", message: "Changed by someone else.", detail: { current } },
        });
      }
      if (method === "DELETE") {
        this.findings.set(current.id, { ...current, deleted: true, version: current.version + 1 });
        return json(204);
      }
      try {
        const { version: _v, marks, ...fields } = body ?? {};
        void _v;
        const next: Finding = {
          ...current,
          ...(fields as Partial<Finding>),
          version: current.version + 1,
          marks: marks ? this.storeMarks(marks as Record<string, unknown>[], current.marks) : current.marks,
        };
        this.findings.set(current.id, next);
        return json(200, next);
      } catch (err) {
        return json(400, { error: { code: "invalid", message: String(err) } });
      }
    }
    if (path === "/api/exam-labels/" && method === "GET") return json(200, this.labels);
    if (path === "/api/exam-labels/" && method === "PUT") {
      const lat = (body?.laterality as string) ?? "";
      const current = this.labels.find((l) => l.laterality === lat && l.author === 1);
      if ((current?.version ?? 0) !== body?.version) {
        return json(409, { error: { code: "conflict", message: "Label changed.", detail: { current: current ?? null } } });
      }
      const saved: ExamLabel = {
        id: current?.id ?? this.nextId++,
        exam: 7,
        source: "human",
        laterality: lat as ExamLabel["laterality"],
        density: (body?.density as string) ?? current?.density ?? "",
        birads: (body?.birads as string) ?? current?.birads ?? "",
        pathology: (body?.pathology as string) ?? current?.pathology ?? "",
        attributes: {},
        version: (current?.version ?? 0) + 1,
        author: 1,
        updated_at: null,
      };
      this.labels = [...this.labels.filter((l) => l !== current), saved];
      return json(200, saved);
    }
    return json(404, { error: { code: "not_found", message: `No route ${method} ${path}` } });
  }
}
