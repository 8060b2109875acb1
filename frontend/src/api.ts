/** A small client for the Senolab REST API: JSON in and out, session cookies, the CSRF token on
 * every write, and the API's error format turned into an ApiError a page can show. */

import type { SenolabConfig } from "./config";

/** The API's error body: {"error": {"code", "message", "detail"}} (senolab/api/errors.py). */
export interface ApiErrorBody {
  error: { code: string; message: string; detail?: unknown };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** HTTP 409: someone else saved first; `detail.current` holds what is stored now. */
  get isConflict(): boolean {
    return this.status === 409;
  }
}

/** A page of a paginated list (DRF's PageNumberPagination). */
export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

type Query = Record<string, string | number | boolean | null | undefined>;
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class Api {
  constructor(
    private readonly base: string,
    private readonly csrfToken: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  static fromConfig(config: SenolabConfig): Api {
    return new Api(config.apiBase, config.csrfToken);
  }

  /** An absolute path under the API base, with the non-empty query parameters. */
  url(path: string, query: Query = {}): string {
    const base = this.base.endsWith("/") ? this.base : `${this.base}/`;
    const full = path.startsWith("/") ? path : `${base}${path}`;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const qs = params.toString();
    return qs ? `${full}${full.includes("?") ? "&" : "?"}${qs}` : full;
  }

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (WRITES.has(method)) headers["X-CSRFToken"] = this.csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, query), {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", `The server could not be reached (${String(err)}).`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const data: unknown = text ? safeJson(text) : undefined;
    if (!response.ok) throw toApiError(response.status, data, text);
    return data as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }

  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>("POST", path, body ?? {}, query);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body);
  }

  delete(path: string): Promise<void> {
    return this.request<void>("DELETE", path);
  }

  /** Every item of a paginated list, following `next` links. */
  async all<T>(path: string, query?: Query): Promise<T[]> {
    const items: T[] = [];
    let page = await this.get<Page<T> | T[]>(path, query);
    for (;;) {
      if (Array.isArray(page)) return [...items, ...page];
      items.push(...page.results);
      if (!page.next) return items;
      page = await this.get<Page<T>>(page.next);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toApiError(status: number, data: unknown, text: string): ApiError {
  const body = data as Partial<ApiErrorBody> | undefined;
  if (body?.error?.message) {
    return new ApiError(status, body.error.code ?? "error", body.error.message, body.error.detail);
  }
  const fallback = text && text.length < 300 ? text : `HTTP ${status}`;
  return new ApiError(status, "error", `The server answered ${status}: ${fallback}`);
}
