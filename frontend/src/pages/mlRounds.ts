/** /ml/projects/{id}/rounds/: a project's active-learning rounds (src/ml/roundsView.ts). */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { RoundsView } from "../ml/roundsView";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new RoundsView(Api.fromConfig(config), config);
  root.replaceChildren(view.el);
  await view.start();
}
