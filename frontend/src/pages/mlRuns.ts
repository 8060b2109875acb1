/** /ml/runs/: training runs and model versions (src/ml/runsView.ts). */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { RunsView } from "../ml/runsView";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new RunsView(Api.fromConfig(config), config);
  root.replaceChildren(view.el);
  await view.start();
}
