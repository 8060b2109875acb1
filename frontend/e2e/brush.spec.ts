/** Brush strokes keep up with the hand (issue 16, defect 3): while the button is down the page's
 * work per pointer move stays under one frame (16 ms, median); the stroke is written into the
 * mask once, when it ends, with one PNG encode; the saved mask holds the pixels the brush went
 * over, and the eraser takes them out again (undone by Ctrl+Z). The figures are logged and
 * attached (docs/workspace.md quotes them). */

import { expect, test, type Locator, type Page } from "@playwright/test";
import { apiGet, expectSaved, humanFindings, pointIn, signIn, type FindingJson } from "./helpers";

interface Counters {
  pngEncodes: number;
  busyMs: number;
  /** The page's JavaScript time in pointer and mouse move listeners and in animation frames. */
  moveWorkMs: number;
}

/** A stored mask: its box (image pixels) and its 0/1 pixels, decoded by the browser. */
interface StoredMask {
  x: number;
  y: number;
  width: number;
  height: number;
  pixels: number[];
}

async function storedMask(page: Page, finding: FindingJson): Promise<StoredMask> {
  const mark = finding.marks.find((m) => m.kind === "mask") as FindingJson["marks"][number] & { mask_url: string };
  const g = mark.geometry as { x: number; y: number; width: number; height: number };
  // Fetched as the viewer does, through the browser's cache: a repainted mask has a new address.
  const pixels = await page.evaluate(async (url) => {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`mask.png: HTTP ${response.status}`);
    const bitmap = await createImageBitmap(await response.blob());
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    return Array.from({ length: bitmap.width * bitmap.height }, (_, i) => (rgba[i * 4]! > 127 ? 1 : 0));
  }, mark.mask_url);
  expect(pixels.length).toBe(g.width * g.height);
  return { ...g, pixels };
}

/** The opacity of the brush overlay at a fraction of a viewport (0: nothing drawn there). */
async function overlayAlpha(viewport: Locator, fx: number, fy: number): Promise<number> {
  return viewport.getByTestId("brush-overlay").evaluate(
    (canvas: HTMLCanvasElement, [x, y]) => canvas.getContext("2d")!.getImageData(Math.round(canvas.width * x!), Math.round(canvas.height * y!), 1, 1).data[3]!,
    [fx, fy],
  );
}

/** How far from grey the image on screen is at a fraction of a viewport (a mask tints it). */
async function tintAt(viewport: Locator, fx: number, fy: number): Promise<number> {
  return viewport.locator("canvas").first().evaluate(
    (canvas: HTMLCanvasElement, [x, y]) => {
      const copy = document.createElement("canvas");
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext("2d")!;
      ctx.drawImage(canvas, 0, 0);
      const d = ctx.getImageData(Math.round(canvas.width * x!), Math.round(canvas.height * y!), 1, 1).data;
      return Math.max(d[0]!, d[1]!, d[2]!) - Math.min(d[0]!, d[1]!, d[2]!);
    },
    [fx, fy],
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Distance from p to the segment a-b. */
function toSegment(p: [number, number], a: [number, number], b: [number, number]): number {
  const vx = b[0] - a[0];
  const vy = b[1] - a[1];
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * vx + (p[1] - a[1]) * vy) / (vx * vx + vy * vy)));
  return Math.hypot(p[0] - a[0] - t * vx, p[1] - a[1] - t * vy);
}

test("a brush stroke costs under a frame per move, is written once on release, and the eraser takes it out", async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  await page.addInitScript(() => {
    const w = window as unknown as Counters;
    w.pngEncodes = 0;
    w.busyMs = 0;
    w.moveWorkMs = 0;
    // The main thread's long tasks (over 50 ms): the page's own work that holds the hand back.
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.busyMs += entry.duration;
    }).observe({ type: "longtask", buffered: false });
    // The mask of a finding is a PNG made with a canvas: count the encodes.
    const toDataURL = HTMLCanvasElement.prototype.toDataURL;
    HTMLCanvasElement.prototype.toDataURL = function (this: HTMLCanvasElement, ...args: Parameters<typeof toDataURL>) {
      if ((args[0] ?? "image/png") === "image/png") w.pngEncodes += 1;
      return toDataURL.apply(this, args);
    };
    // The JavaScript a pointer move costs the page: every move listener (the page's and
    // Cornerstone's, on any element) and every animation frame callback (where Cornerstone
    // renders), timed with performance.now().
    const timedTypes = new Set(["pointermove", "mousemove", "pointerrawupdate"]);
    const wrapped = new WeakMap<object, EventListener>();
    const add = EventTarget.prototype.addEventListener;
    const remove = EventTarget.prototype.removeEventListener;
    EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) {
      if (!listener || !timedTypes.has(type)) return add.call(this, type, listener, options);
      let timed = wrapped.get(listener);
      if (!timed) {
        timed = function (this: unknown, event: Event) {
          const t0 = performance.now();
          try {
            return typeof listener === "function" ? listener.call(this, event) : listener.handleEvent(event);
          } finally {
            w.moveWorkMs += performance.now() - t0;
          }
        };
        wrapped.set(listener, timed);
      }
      return add.call(this, type, timed, options);
    };
    EventTarget.prototype.removeEventListener = function (this: EventTarget, type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions) {
      return remove.call(this, type, (listener && wrapped.get(listener)) || listener, options);
    };
    const raf = window.requestAnimationFrame.bind(window);
    window.requestAnimationFrame = (callback: FrameRequestCallback) =>
      raf((time) => {
        const t0 = performance.now();
        try {
          callback(time);
        } finally {
          w.moveWorkMs += performance.now() - t0;
        }
      });
  });
  await signIn(page);
  const exams = await apiGet<{ results: { id: number; modalities: string[] }[] }>(page, "exams/?page_size=100");
  const exam = exams.results.find((e) => e.modalities.includes("US"))!.id;
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));
  await page.goto(`/exams/${exam}/`);
  const viewer = page.getByTestId("viewer");
  const viewport = viewer.getByTestId("viewport").first();
  await expect(viewport).toHaveAttribute("data-full-res", "true", { timeout: 60_000 });
  const findingItems = page.getByTestId("findings").getByTestId("finding");
  const listed = await apiGet<{ count: number }>(page, `findings/?exam=${exam}`);
  await expect(findingItems).toHaveCount(listed.count);
  const counters = () => page.evaluate(() => {
    const w = window as unknown as Counters;
    return { pngEncodes: w.pngEncodes, busyMs: w.busyMs, moveWorkMs: w.moveWorkMs };
  });

  /** Press at `from`, move in `moves` steps to `to` as a hand does (each move sent once the page
   * has handled the one before, a frame waited for, a 30 ms pause), and return per move: the
   * time until the page handled the event (input), until the next frame after it (frame:
   * WebGL rendering included, software-emulated here), and the page's JavaScript work. */
  const stroke = async (from: { x: number; y: number }, to: { x: number; y: number }, moves: number) => {
    await page.mouse.move(from.x, from.y);
    const input: number[] = [];
    const frame: number[] = [];
    const work: number[] = [];
    await page.mouse.down();
    let done = (await counters()).moveWorkMs;
    for (let i = 1; i <= moves; i++) {
      const t0 = Date.now();
      await page.mouse.move(from.x + ((to.x - from.x) * i) / moves, from.y + ((to.y - from.y) * i) / moves);
      input.push(Date.now() - t0);
      const total = await page.evaluate(
        () => new Promise<number>((resolve) => requestAnimationFrame(() => setTimeout(() => resolve((window as unknown as Counters).moveWorkMs), 0))),
      );
      frame.push(Date.now() - t0);
      work.push(total - done);
      done = total;
      await page.waitForTimeout(30);
    }
    return { input, frame, work };
  };

  await page.keyboard.press("d");
  await expect(viewer).toHaveAttribute("data-tool", "brush");
  const moves = Number(process.env.BRUSH_MOVES ?? 40);
  const from = await pointIn(viewport, 0.2, 0.6);
  const to = await pointIn(viewport, 0.45, 0.7);
  const start = await counters();
  const brush = await stroke(from, to, moves);
  const during = await counters();
  // While the button is down the stroke is on the overlay, where the pointer went.
  expect(await overlayAlpha(viewport, 0.325, 0.65), "the stroke on the overlay").toBeGreaterThan(0);
  expect(await overlayAlpha(viewport, 0.8, 0.2), "the overlay away from the stroke").toBe(0);
  await page.mouse.up();
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);
  const afterStroke = (await counters()).pngEncodes - start.pngEncodes;

  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(1);
  expect(saved[0]!.marks.map((m) => m.kind)).toEqual(["mask"]);
  const mask = await storedMask(page, saved[0]!);

  // The same moves dragging a box, for comparison (drawn, then undone).
  await page.keyboard.press("b");
  await expect(viewer).toHaveAttribute("data-tool", "box");
  const boxFrom = await pointIn(viewport, 0.55, 0.2);
  const boxDrag = await stroke(boxFrom, { x: boxFrom.x + 120, y: boxFrom.y + 60 }, moves);
  await page.mouse.up();
  await expect(findingItems).toHaveCount(listed.count + 2);
  await page.keyboard.press("Control+z");
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);

  const figures = {
    moves,
    brush_work_median_ms: Math.round(median(brush.work) * 10) / 10,
    brush_work_p90_ms: Math.round([...brush.work].sort((a, b) => a - b)[Math.floor(moves * 0.9)]! * 10) / 10,
    brush_input_median_ms: median(brush.input),
    brush_frame_median_ms: median(brush.frame),
    box_work_median_ms: Math.round(median(boxDrag.work) * 10) / 10,
    box_input_median_ms: median(boxDrag.input),
    box_frame_median_ms: median(boxDrag.frame),
    brush_main_thread_long_tasks_per_move_ms: Math.round((during.busyMs - start.busyMs) / moves),
    png_encodes_during_stroke: during.pngEncodes - start.pngEncodes,
    png_encodes_for_stroke: afterStroke,
  };
  console.log(`brush per-move figures: ${JSON.stringify(figures)}`);
  console.log(`brush work per move (ms, in stroke order): ${brush.work.map((x) => x.toFixed(1)).join(" ")}`);
  console.log(`brush frame times (ms, in stroke order): ${brush.frame.join(" ")}`);
  await testInfo.attach("brush-per-move.json", { body: JSON.stringify({ ...figures, brush, box: boxDrag }), contentType: "application/json" });

  // Under a frame of the page's work per move; nothing encoded while the pointer moves, one PNG
  // when the stroke ends.
  expect(figures.brush_work_median_ms, "the page's work per brush move (ms, median)").toBeLessThan(16);
  expect(figures.png_encodes_during_stroke).toBe(0);
  expect(figures.png_encodes_for_stroke).toBe(1);

  // The saved mask is the stroke: the brush (radius r image pixels) swept from the press to the
  // release. The screen-to-image scale s and r follow from the mask's box: width = dx s + 2r,
  // height = dy s + 2r for a drag of dx, dy screen pixels down and to the right.
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const s = (mask.width - mask.height) / (dx - dy);
  const r = (mask.width - dx * s) / 2;
  console.log(`mask ${mask.width}x${mask.height} at ${mask.x},${mask.y}: ${s.toFixed(3)} image px per screen px, brush radius ${r.toFixed(1)} px`);
  expect(r).toBeGreaterThan(3);
  const a: [number, number] = [r, r];
  const b: [number, number] = [r + dx * s, r + dy * s];
  let inside = 0;
  let missing = 0;
  let outside = 0;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      const d = toSegment([x, y], a, b);
      const set = mask.pixels[y * mask.width + x] === 1;
      if (d <= r - 2) {
        inside++;
        if (!set) missing++;
      } else if (d >= r + 2 && set) {
        outside++;
      }
    }
  }
  expect(inside).toBeGreaterThan(100);
  expect(missing, "pixels the brush went over that the mask lacks").toBe(0);
  expect(outside, "pixels in the mask the brush never went over").toBe(0);

  // The eraser across the middle of the stroke takes those pixels out: one more save, one encode.
  const mid = { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 };
  await page.keyboard.press("x");
  await expect(viewer).toHaveAttribute("data-tool", "eraser");
  const beforeErase = await counters();
  await stroke({ x: mid.x, y: mid.y - 80 }, { x: mid.x, y: mid.y + 80 }, 10);
  expect((await counters()).pngEncodes - beforeErase.pngEncodes).toBe(0);
  await page.mouse.up();
  await expect.poll(async () => (await counters()).pngEncodes - beforeErase.pngEncodes).toBe(1);
  await expectSaved(page);
  const erased = await storedMask(page, (await humanFindings(page, exam)).find((f) => f.id === saved[0]!.id)!);
  const count = (m: StoredMask) => m.pixels.reduce((n, v) => n + v, 0);
  expect(count(erased)).toBeLessThan(count(mask) * 0.9);
  // The stroke's middle, in the image, is empty now; its two ends are still painted.
  const at = (m: StoredMask, ix: number, iy: number) => m.pixels[(Math.round(iy) - m.y) * m.width + (Math.round(ix) - m.x)] ?? 0;
  const image = (fx: number, fy: number) => [mask.x + r + fx * dx * s, mask.y + r + fy * dy * s] as const;
  expect(at(erased, ...image(0.5, 0.5))).toBe(0);
  expect(at(erased, ...image(0, 0))).toBe(1);
  expect(at(erased, ...image(1, 1))).toBe(1);
  // On screen too: the labelmap under the stroke's middle is clear, its start still tinted.
  await expect.poll(() => tintAt(viewport, 0.325, 0.65)).toBeLessThan(12);
  expect(await tintAt(viewport, 0.21, 0.6)).toBeGreaterThan(30);

  // Undo puts the erased pixels back and saves the mask as it was.
  await page.keyboard.press("Control+z");
  await expectSaved(page);
  await expect
    .poll(async () => count(await storedMask(page, (await humanFindings(page, exam)).find((f) => f.id === saved[0]!.id)!)))
    .toBe(count(mask));
  await expect.poll(() => tintAt(viewport, 0.325, 0.65)).toBeGreaterThan(30);
});
