/** The worklist page (/): my exams in a project, the next one to read, filters and counts. */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { WorklistView } from "../worklist/view";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new WorklistView(Api.fromConfig(config), config);
  root.replaceChildren(view.el);
  view.shortcuts.attach(document);
  await view.start();
}
