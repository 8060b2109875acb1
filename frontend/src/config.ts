/** The page's configuration, written by Django (senolab/workspace/views.py) as the JSON script
 * `#senolab-config`: which page this is, the API's base URL, the CSRF token for writes, who is
 * signed in, their projects, and the ids the page is about. */

export type Role = "viewer" | "annotator" | "reviewer" | "owner";
export type PageName = "worklist" | "exam" | "slide" | "projects" | "ml-runs" | "ml-run" | "ml-version" | "ml-rounds" | "adjudication" | "agreement";

export interface ProjectRef {
  id: number;
  name: string;
  role: Role | null;
}

export interface SenolabConfig {
  page: PageName;
  apiBase: string;
  csrfToken: string;
  /** isStaff: may open the Django admin (the link is shown to staff only). */
  user: { id: number; username: string; isStaff?: boolean };
  projects: ProjectRef[];
  projectId?: number | null;
  examId?: number;
  slideId?: number;
  runId?: number;
  versionId?: number;
}

export function readConfig(doc: Document = document): SenolabConfig {
  const node = doc.getElementById("senolab-config");
  if (!node?.textContent) {
    throw new Error("This page has no #senolab-config: it must be served by Senolab.");
  }
  return JSON.parse(node.textContent) as SenolabConfig;
}
