/** Entry of the workspace bundle: read the page's configuration and mount that page. */

import { readConfig, type PageName, type SenolabConfig } from "./config";
import "./styles.css";

type Mount = (root: HTMLElement, config: SenolabConfig) => void | Promise<void>;

// Each page is its own chunk: the worklist does not load Cornerstone or OpenSeadragon.
const pages: Record<PageName, () => Promise<{ mount: Mount }>> = {
  worklist: () => import("./pages/worklist"),
  exam: () => import("./pages/exam"),
  slide: () => import("./pages/slide"),
  "ml-runs": () => import("./pages/mlRuns"),
  "ml-run": () => import("./pages/mlRun"),
  "ml-version": () => import("./pages/mlVersion"),
  "ml-rounds": () => import("./pages/mlRounds"),
  projects: () => import("./pages/projects"),
  adjudication: () => import("./pages/adjudication"),
  agreement: () => import("./pages/agreement"),
};

async function start(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) return;
  const config = readConfig();
  try {
    const page = await pages[config.page]();
    await page.mount(root, config);
  } catch (err) {
    console.error(err);
    const notice = document.createElement("div");
    notice.className = "notice error";
    notice.setAttribute("role", "alert");
    notice.textContent = `This page could not start: ${err instanceof Error ? err.message : err}`;
    root.replaceChildren(notice);
  }
}

void start();
