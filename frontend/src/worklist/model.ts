/** The worklist API (annotations/api/worklist.py) and the filter state kept in the page URL. */

import type { Api, Schemas } from "../api";
import type { paths } from "../api-schema";
import { referencePreference } from "../findings/reference";

export type WorklistReader = Schemas["Reader"];
/** One exam of my worklist; `status` is my reading of it: assigned, in_progress, done, or unassigned. */
export type WorklistRow = Schemas["WorklistRow"];
export type ReadingNow = Schemas["ReadingNow"];
export type WorklistPage = Schemas["Worklist"];
type WorklistParams = paths["/api/worklist/"]["get"]["parameters"]["query"];

export const FILTERS = ["modality", "status", "birads", "density", "site", "age_min", "age_max", "biopsy_outcome"] as const;
export type FilterName = (typeof FILTERS)[number];
export type Filters = Partial<Record<FilterName, string>>;

export const MODALITIES = ["MG", "US", "MR", "SM", "OT"];
export const STATUSES: [string, string][] = [
  ["assigned", "assigned to me"],
  ["in_progress", "in progress"],
  ["done", "done"],
  ["unassigned", "unassigned"],
];

export interface WorklistQuery {
  project: number | null;
  filters: Filters;
  page: number;
}

/** The query in the page's URL (so a reload or a shared link shows the same list). */
export function readQuery(search: string, fallbackProject: number | null): WorklistQuery {
  const params = new URLSearchParams(search);
  const filters: Filters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  const project = Number(params.get("project"));
  const page = Number(params.get("page"));
  return {
    project: Number.isInteger(project) && project > 0 ? project : fallbackProject,
    filters,
    page: Number.isInteger(page) && page > 1 ? page : 1,
  };
}

export function writeQuery(query: WorklistQuery): string {
  const params = new URLSearchParams();
  if (query.project) params.set("project", String(query.project));
  for (const name of FILTERS) {
    const value = query.filters[name];
    if (value) params.set(name, value);
  }
  if (query.page > 1) params.set("page", String(query.page));
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function fetchWorklist(api: Api, query: WorklistQuery): Promise<WorklistPage> {
  const { status, age_min, age_max, ...filters } = query.filters;
  const age = (text: string | undefined) => (text && /^\d+$/.test(text) ? Number(text) : undefined);
  return api.GET("/api/worklist/", {
    query: {
      project: query.project ?? 0,
      ...filters,
      // The clinical record's age range (whole years); the server answers a bad one with 400.
      age_min: age(age_min),
      age_max: age(age_max),
      status: status as WorklistParams["status"],
      page: query.page > 1 ? query.page : undefined,
      // The reader chose (in the findings panel) to read this project blind: no reference BI-RADS.
      reference: referencePreference(query.project) === false ? "hide" : undefined,
    },
  });
}

/** The next exam by the project's policy (marked in progress for me), or null when none. */
export async function nextExam(api: Api, project: number): Promise<number | null> {
  const answer = await api.POST("/api/worklist/next/", { query: { project } });
  return answer.exam ?? null;
}

export function examUrl(exam: number): string {
  return `/exams/${exam}/`;
}
