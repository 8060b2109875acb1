/** A small client for the Senolab REST API: JSON in and out, session cookies, the CSRF token on
 * every write, and the API's error format turned into an ApiError a page can show.
 *
 * Paths: one style, the schema's. Every request names the path as the OpenAPI schema does
 * ("/api/projects/{id}/", absolute, with the trailing slash DRF's router serves) and the typed
 * methods (`api.GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `list`) take exactly those keys of
 * `paths` from src/api-schema.d.ts, generated from /api/schema/ by `make api-types`: a schema
 * change that breaks a request fails `tsc`. The untyped `get`/`post`/... remain for paths the
 * schema cannot describe well (binary bodies) and for pages not yet moved to the typed calls. */

import type { components, paths } from "./api-schema";
import type { SenolabConfig } from "./config";

/** The schema's components: `Schemas["Project"]`, `Schemas["Membership"]`, ... */
export type Schemas = components["schemas"];
export type ApiPath = keyof paths;
type Method = "get" | "post" | "put" | "patch" | "delete";
/** The paths that declare a method. */
export type PathsWith<M extends Method> = {
  [P in ApiPath]: undefined extends paths[P][M] ? never : P;
}[ApiPath];
type Operation<P extends ApiPath, M extends Method> = NonNullable<paths[P][M]>;
type Json<R> = R extends { content: { "application/json": infer T } } ? T : void;
type Responses<O> = O extends { responses: infer R } ? R : never;
/** The JSON body of an operation's success answer (200, 201 or 202; void for 204). */
export type Success<O> = Json<Responses<O>[Extract<keyof Responses<O>, 200 | 201 | 202>]>;
type PathParams<O> = O extends { parameters: { path: infer P } } ? P : undefined;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : undefined;
type BodyOf<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : undefined;
/** What a typed call sends: the path's parameters, the query and the JSON body it declares. */
export type CallOptions<O> = (PathParams<O> extends undefined
  ? { path?: undefined }
  : { path: { [K in keyof PathParams<O>]: string | number } }) & {
  query?: QueryParams<O> extends undefined ? undefined : QueryParams<O>;
  body?: BodyOf<O>;
};
type Item<T> = T extends { results: (infer I)[] } ? I : T extends (infer I)[] ? I : never;

/** The schema path with its `{name}` parameters filled in. */
export function fillPath(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`The path ${template} needs ${name}.`);
    return encodeURIComponent(String(value));
  });
}

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
    return answer<T>(response);
  }

  /** POST a multipart form (a file upload): the browser sets the content type and boundary. */
  async upload<T>(path: string, form: FormData): Promise<T> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": this.csrfToken },
        credentials: "same-origin",
        body: form,
      });
    } catch (err) {
      throw new ApiError(0, "network", `The server could not be reached (${String(err)}).`);
    }
    return answer<T>(response);
  }

  /** A typed request to a path of the schema. */
  call<M extends Method, P extends PathsWith<M>>(
    method: M,
    path: P,
    options: CallOptions<Operation<P, M>> = {} as CallOptions<Operation<P, M>>,
  ): Promise<Success<Operation<P, M>>> {
    const { path: params, query, body } = options as { path?: Record<string, string | number>; query?: Query; body?: unknown };
    const verb = method.toUpperCase();
    return this.request(verb, fillPath(path, params), body ?? (verb === "POST" ? {} : undefined), query);
  }

  GET<P extends PathsWith<"get">>(path: P, options?: CallOptions<Operation<P, "get">>) {
    return this.call("get", path, options);
  }

  POST<P extends PathsWith<"post">>(path: P, options?: CallOptions<Operation<P, "post">>) {
    return this.call("post", path, options);
  }

  PUT<P extends PathsWith<"put">>(path: P, options?: CallOptions<Operation<P, "put">>) {
    return this.call("put", path, options);
  }

  PATCH<P extends PathsWith<"patch">>(path: P, options?: CallOptions<Operation<P, "patch">>) {
    return this.call("patch", path, options);
  }

  DELETE<P extends PathsWith<"delete">>(path: P, options?: CallOptions<Operation<P, "delete">>) {
    return this.call("delete", path, options);
  }

  /** Every item of a typed list (following the pages' `next` links). */
  list<P extends PathsWith<"get">>(
    path: P,
    options?: CallOptions<Operation<P, "get">>,
  ): Promise<Item<Success<Operation<P, "get">>>[]> {
    const { path: params, query } = (options ?? {}) as { path?: Record<string, string | number>; query?: Query };
    return this.all(fillPath(path, params), query);
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

async function answer<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const data: unknown = text ? safeJson(text) : undefined;
  if (!response.ok) throw toApiError(response.status, data, text);
  return data as T;
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
