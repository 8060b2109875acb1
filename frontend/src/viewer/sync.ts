/** Zoom and pan move together across the views of a hanging: zoom is copied as is; pan is
 * mirrored between a right and a left breast, so both chest walls (or both nipples) stay in view
 * side by side. */

import { Enums } from "@cornerstonejs/core";
import type { ViewerGrid, ViewportHandle } from "./grid";

/** The pan to give a target viewport for a source's pan (pure). */
export function mirroredPan(
  pan: [number, number],
  sourceLaterality: string,
  targetLaterality: string,
): [number, number] {
  const opposite =
    (sourceLaterality === "R" && targetLaterality === "L") ||
    (sourceLaterality === "L" && targetLaterality === "R");
  return opposite ? [-pan[0], pan[1]] : [pan[0], pan[1]];
}

export class ZoomPanSync {
  enabled = true;
  private busy = false;

  constructor(private readonly grid: ViewerGrid) {}

  /** Start following a viewport's camera (call once per viewport). */
  watch(handle: ViewportHandle): void {
    handle.element.addEventListener(Enums.Events.CAMERA_MODIFIED, () => this.follow(handle));
  }

  private follow(source: ViewportHandle): void {
    if (!this.enabled || this.busy || !source.fullRes) return;
    this.busy = true;
    try {
      const from = this.grid.viewport(source);
      const zoom = from.getZoom();
      const pan = from.getPan() as [number, number];
      for (const target of this.grid.handles) {
        if (target === source || !target.fullRes || target.prior !== source.prior) continue;
        if (source.frames.length > 1 || target.frames.length > 1) continue;
        const to = this.grid.viewport(target);
        to.setZoom(zoom);
        to.setPan(mirroredPan(pan, source.slotInfo.laterality, target.slotInfo.laterality) as never);
        to.render();
      }
    } finally {
      this.busy = false;
    }
  }
}
