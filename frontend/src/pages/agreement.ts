/** The reader agreement page (/projects/{id}/agreement/): see src/readers/agreement.ts. */

import { Api } from "../api";
import type { SenolabConfig } from "../config";
import { AgreementView } from "../readers/agreement";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const view = new AgreementView(Api.fromConfig(config), config, config.projectId!);
  root.replaceChildren(view.el);
  await view.start();
}
