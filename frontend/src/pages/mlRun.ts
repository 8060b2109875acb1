/** /ml/runs/{id}/: one training run (src/ml/runView.ts). */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { RunView } from "../ml/runView";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new RunView(Api.fromConfig(config), config, Number(config.runId));
  root.replaceChildren(view.el);
  await view.start();
}
