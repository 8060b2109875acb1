/** Frames and slices: the frame index of a multi-frame (cine) or stack viewport, stepping with
 * the keyboard and playing a cine loop. */

import { Enums } from "@cornerstonejs/core";
import type { ViewerGrid, ViewportHandle } from "./grid";

/** The next frame index when stepping by `delta` through `count` frames, wrapping (pure). */
export function stepFrame(index: number, delta: number, count: number): number {
  if (count <= 0) return 0;
  return (((index + delta) % count) + count) % count;
}

export class FramePlayer {
  private timer: ReturnType<typeof setInterval> | null = null;
  readonly fps = 15;

  constructor(private readonly grid: ViewerGrid) {}

  /** Add the frame index (and a play button for a cine) to a viewport with several frames. */
  watch(handle: ViewportHandle): void {
    if (handle.frames.length < 2) return;
    const bar = document.createElement("div");
    bar.className = "frame-bar";
    const index = document.createElement("span");
    index.dataset.testid = "frame-index";
    const cine = handle.slotInfo.images.length === 1;
    const play = document.createElement("button");
    play.type = "button";
    play.dataset.action = "play";
    play.textContent = "Play";
    play.hidden = !cine;
    play.addEventListener("click", () => this.toggle(handle, play));
    bar.append(play, index);
    handle.host.append(bar);
    const update = () => {
      const at = this.grid.viewport(handle).getCurrentImageIdIndex();
      index.textContent = `${at + 1} / ${handle.frames.length}`;
      index.dataset.index = String(at);
    };
    handle.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, update);
    handle.element.addEventListener(Enums.Events.IMAGE_RENDERED, update);
    update();
  }

  step(handle: ViewportHandle, delta: number): void {
    const viewport = this.grid.viewport(handle);
    const next = stepFrame(viewport.getCurrentImageIdIndex(), delta, handle.frames.length);
    void viewport.setImageIdIndex(next);
  }

  toggle(handle: ViewportHandle, button?: HTMLButtonElement): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      if (button) button.textContent = "Play";
      return;
    }
    this.timer = setInterval(() => this.step(handle, 1), 1000 / this.fps);
    if (button) button.textContent = "Pause";
  }
}
