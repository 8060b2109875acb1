/** The exam page: the Cornerstone3D viewer with the hanging protocol, the annotation tools and
 * the findings panel. The work is done by the modules under src/viewer/. */

import type { SenolabConfig } from "../config";
import { mountExamViewer } from "../viewer/examViewer";

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  await mountExamViewer(root, config);
}
