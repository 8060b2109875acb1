/** What the ML pages share: the API's shapes, the page frame (the workspace's top bar with the
 * app's navigation, src/worklist/nav.ts), who may start GPU work (reviewer or owner, as the API
 * checks), and small DOM helpers. */

import type { Api, Schemas } from "../api";
import { ApiError } from "../api";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import type { Job } from "../jobs";
import { appNav } from "../worklist/nav";
import type { HistoryEntry } from "./charts";

// The API's shapes come from the generated schema (src/api-schema.d.ts), so a changed field
// breaks this build; the JSON fields are typed as these pages read them.
export type Recipe = Schemas["Recipe"];

export type TrainingRun = Omit<Schemas["TrainingRun"], "job" | "history" | "params" | "created_by"> & {
  job: Job | null;
  history: HistoryEntry[];
  params: { seed?: number; ground_truth?: string; overrides?: Record<string, unknown> };
  created_by: string | null;
};

export type ModelVersion = Omit<Schemas["ModelVersion"], "trained_by"> & {
  trained_by: string | null;
  recipe_config?: Record<string, unknown>;
  curves?: { roc?: unknown; confusion?: unknown; calibration?: unknown };
};

/** The snapshot filter of a training: which ground truth the cases are taken from. */
export const GROUND_TRUTH: [string, string][] = [
  ["any", "Reference where present, else expert annotations"],
  ["reference", "Imported reference only"],
  ["human", "Expert annotations only"],
];

/** Reviewers and owners start trainings, evaluations and predictions (ml/api/views.py). */
export function canRunJobs(config: SenolabConfig, projectId: number | null | undefined): boolean {
  const role = config.projects.find((p) => p.id === projectId)?.role;
  return role === "reviewer" || role === "owner";
}

export function projectName(config: SenolabConfig, id: number): string {
  return config.projects.find((p) => p.id === id)?.name ?? `project ${id}`;
}

/** "Training run #3" pages and the list share one frame: the top bar (brand, title, the page's
 * own controls, then the app's navigation as on the worklist and projects pages), then the
 * page's sections. */
export function frame(config: SenolabConfig, title: string, ...extra: (Node | string)[]): { page: HTMLElement; main: HTMLElement } {
  const main = h("main", { className: "ml-body" });
  const page = h(
    "div",
    { className: "ml-page" },
    h(
      "header",
      { className: "topbar" },
      h("a", { className: "brand", href: "/", title: "Back to the worklist" }, "Senolab"),
      h("h1", {}, title),
      ...extra,
      h("span", { className: "spacer" }),
      appNav(config, "Models"),
    ),
    main,
  );
  return { page, main };
}

export function section(title: string, ...children: (Node | string | null | false)[]): HTMLElement {
  return h("section", { className: "ml-section" }, h("h2", {}, title), ...children);
}

export function errorText(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

export function notice(text: string, kind: "" | "error" = ""): HTMLElement {
  return h("div", { className: `notice ${kind}`.trim(), role: kind ? "alert" : "status" }, text);
}

/** A description list of label → value (values already formatted; nodes for links). */
export function facts(rows: [string, Node | string][], columns: 1 | 2 = 1): HTMLElement {
  const dl = h("dl", { className: columns === 2 ? "facts two" : "facts" });
  for (const [label, value] of rows) dl.append(h("dt", {}, label), h("dd", {}, value));
  return dl;
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h("a", { href }, text);
}

export async function loadRecipes(api: Api): Promise<Recipe[]> {
  const body = await api.get<{ recipes: Recipe[] }>("/api/recipes/");
  return body.recipes;
}
