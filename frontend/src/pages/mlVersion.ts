/** /ml/versions/{id}/: one model version (src/ml/versionView.ts). */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { VersionView } from "../ml/versionView";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new VersionView(Api.fromConfig(config), config, Number(config.versionId));
  root.replaceChildren(view.el);
  await view.start();
}
