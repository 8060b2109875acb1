/** The viewports of the exam page: one Cornerstone StackViewport per hanging slot, drawn first
 * from a coarse level of the pixel cache and then at full resolution.
 *
 * Each viewport's host element keeps the selector contract of the e2e tests:
 * [data-testid=viewport][data-slot][data-image-id], data-rendered="true" once an image is drawn,
 * data-full-res="true" once the level-0 image is drawn.
 */

import {
  Enums,
  imageLoader,
  RenderingEngine,
  type StackViewport,
  type Types,
} from "@cornerstonejs/core";
import { isQuarantined, quarantineBadge } from "../quarantine";
import { chestWallSide, needsFlip, slotTitle, type Hanging, type HangingSlot } from "./hanging";
import { imageIdFor, previewLevel } from "./loader";
import type { ImageInfo } from "./types";

let engineCount = 0;

/** One viewport on the screen and what it shows. */
export interface ViewportHandle {
  slot: string;
  /** What the reader sees for it ("R-CC", "prior R-CC", "US R"): see slotTitle. */
  title: string;
  viewportId: string;
  host: HTMLElement;
  element: HTMLDivElement;
  slotInfo: HangingSlot;
  /** Level-0 imageIds in scroll order (the frames of a cine, the slices of a stack). */
  imageIds: string[];
  /** The image each of imageIds belongs to, and its frame. */
  frames: { image: ImageInfo; frame: number }[];
  flipped: boolean;
  fullRes: boolean;
  prior: boolean;
}

export type ViewportListener = (handle: ViewportHandle) => void;

/** The level-0 imageIds of a slot: every frame of every image, in order. */
export function slotFrames(slot: HangingSlot): { image: ImageInfo; frame: number }[] {
  return slot.images.flatMap((image) =>
    Array.from({ length: Math.max(1, image.frame_count) }, (_, frame) => ({ image, frame })),
  );
}

export class ViewerGrid {
  readonly engine: RenderingEngine;
  readonly handles: ViewportHandle[] = [];
  private readonly fullResListeners: ViewportListener[] = [];

  constructor(private readonly container: HTMLElement) {
    engineCount += 1;
    this.engine = new RenderingEngine(`senolab-engine-${engineCount}`);
  }

  /** Call `listener` whenever a viewport has its full-resolution image on screen. */
  onFullRes(listener: ViewportListener): void {
    this.fullResListeners.push(listener);
  }

  viewport(handle: ViewportHandle): StackViewport {
    return this.engine.getViewport(handle.viewportId) as StackViewport;
  }

  /** Lay out the slots of a hanging (the prior exam's slots get the "prior-" prefix). */
  async show(
    hanging: Hanging,
    { prior = false, label = "" }: { prior?: boolean; label?: string } = {},
  ): Promise<void> {
    const row = document.createElement("div");
    row.className = `viewer-row layout-${hanging.layout}${prior ? " prior" : ""}`;
    row.dataset.row = prior ? "prior" : "current";
    if (label) row.dataset.label = label;
    const created: ViewportHandle[] = [];
    for (const slotInfo of hanging.slots) {
      const handle = this.createHost(slotInfo, prior);
      row.append(handle.host);
      created.push(handle);
    }
    this.container.append(row);
    // enableElement adds viewports; setViewports would replace (and blank) the current ones.
    for (const h of created) {
      this.engine.enableElement({
        viewportId: h.viewportId,
        element: h.element,
        type: Enums.ViewportType.STACK,
        defaultOptions: { background: [0, 0, 0] as Types.Point3 },
      });
    }
    this.handles.push(...created);
    await Promise.all(created.map((h) => this.load(h)));
  }

  /** Remove the prior exam's viewports. */
  hidePrior(): void {
    for (const handle of this.handles.filter((h) => h.prior)) {
      this.engine.disableElement(handle.viewportId);
    }
    this.container.querySelector('[data-row="prior"]')?.remove();
    this.handles.splice(0, this.handles.length, ...this.handles.filter((h) => !h.prior));
  }

  /** Fit every image to its (new) viewport size again, keeping the hanging's mirroring. */
  resize(): void {
    this.engine.resize(true, false);
    for (const handle of this.handles) {
      const viewport = this.viewport(handle);
      if (!viewport?.getCurrentImageId()) continue;
      viewport.resetCamera();
      if (handle.flipped) viewport.setCamera({ flipHorizontal: true });
      viewport.render();
    }
  }

  private createHost(slotInfo: HangingSlot, prior: boolean): ViewportHandle {
    const slot = prior ? `prior-${slotInfo.slot}` : slotInfo.slot;
    const host = document.createElement("div");
    host.className = "viewport";
    host.dataset.testid = "viewport";
    host.dataset.slot = slot;
    if (slotInfo.laterality) host.dataset.laterality = slotInfo.laterality;
    const first = slotInfo.images[0];
    if (first) host.dataset.imageId = String(first.id);
    const element = document.createElement("div");
    element.className = "viewport-element";
    element.oncontextmenu = (e) => e.preventDefault();
    const label = document.createElement("div");
    label.className = "viewport-label";
    const title = `${prior ? "prior " : ""}${slotTitle(slotInfo)}`;
    label.textContent = first ? title : `${title} (none)`;
    host.append(element, label);
    const quarantined = slotInfo.images.find(isQuarantined);
    if (quarantined) host.append(quarantineBadge(quarantined.pixel_status_reason || "Quarantined"));
    if (!first) host.classList.add("empty");
    const frames = slotFrames(slotInfo);
    return {
      slot,
      title,
      viewportId: `vp-${slot}`,
      host,
      element,
      slotInfo,
      imageIds: frames.map(({ image, frame }) => imageIdFor(image, 0, frame)),
      frames,
      flipped: false,
      fullRes: false,
      prior,
    };
  }

  /** Draw a coarse level first (single-frame images with a smaller level), then level 0. */
  private async load(handle: ViewportHandle): Promise<void> {
    const image = handle.slotInfo.images[0];
    if (!image) return;
    const viewport = this.viewport(handle);
    const single = handle.imageIds.length === 1;
    const level = single ? previewLevel(image) : 0;
    handle.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      handle.host.dataset.rendered = "true";
      const current = viewport.getCurrentImageId();
      if (!handle.fullRes && handle.imageIds.includes(current)) {
        handle.fullRes = true;
        handle.host.dataset.fullRes = "true";
        for (const listener of this.fullResListeners) listener(handle);
      }
    });
    const firstId = level === 0 ? handle.imageIds[0]! : imageIdFor(image, level, 0);
    const stack = level === 0 ? handle.imageIds : [firstId];
    await viewport.setStack(stack, 0);
    this.applyHanging(handle, viewport);
    viewport.render();
    if (level === 0) return;
    const fullId = handle.imageIds[0]!;
    await imageLoader.loadAndCacheImage(fullId);
    const camera = viewport.getCamera();
    const { voiRange, invert } = viewport.getProperties();
    await viewport.setStack([fullId], 0);
    viewport.setCamera({
      focalPoint: camera.focalPoint,
      position: camera.position,
      parallelScale: camera.parallelScale,
      flipHorizontal: camera.flipHorizontal,
    });
    viewport.setProperties({ voiRange, invert });
    viewport.render();
  }

  /** Mirror a mammogram so its chest wall faces the middle of the pair. */
  private applyHanging(handle: ViewportHandle, viewport: StackViewport): void {
    const image = handle.slotInfo.images[0];
    if (!image || image.modality !== "MG" || image.samples_per_pixel === 3) return;
    const data = viewport.getImageData();
    const csImage = viewport.getCornerstoneImage();
    if (!data || !csImage) return;
    const wall = chestWallSide(
      csImage.getPixelData(),
      csImage.rows,
      csImage.columns,
      image.photometric_interpretation !== "MONOCHROME1",
    );
    handle.flipped = needsFlip(handle.slotInfo.laterality, wall);
    handle.host.dataset.chestWall = wall;
    if (handle.flipped) {
      viewport.setCamera({ flipHorizontal: true });
      handle.host.dataset.flipped = "true";
    }
  }
}
