/** The projects page (/projects/): my projects; owners edit a project's name and description
 * and manage its members and their roles; anyone may create a project (and owns it). */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { ProjectsView } from "../projects/view";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new ProjectsView(Api.fromConfig(config), config);
  root.replaceChildren(view.el);
  await view.start();
}
