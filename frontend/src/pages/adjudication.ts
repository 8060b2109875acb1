/** The adjudication page (/projects/{id}/adjudication/): see src/readers/adjudication.ts. */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { AdjudicationView } from "../readers/adjudication";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new AdjudicationView(Api.fromConfig(config), config, config.projectId!);
  root.replaceChildren(view.el);
  await view.start();
}
