/** Brush strokes keep up with the hand (issue 16, defect 3): a stroke on the ultrasound image
 * encodes its mask PNG once, when the stroke ends, not on every move of the pointer; the
 * per-move cost is measured and reported (docs/workspace.md), not asserted (a shared machine). */

import { expect, test } from "@playwright/test";
import { apiGet, expectSaved, humanFindings, pointIn, signIn } from "./helpers";

test("a brush stroke of forty moves encodes its mask once, at the end of the stroke", async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  // Count the PNG encodes of the page (the mask of a finding is a PNG made with a canvas).
  await page.addInitScript(() => {
    const w = window as unknown as { pngEncodes: number; busyMs: number };
    w.pngEncodes = 0;
    // The main thread's long tasks (over 50 ms): the page's own work that holds the hand back.
    w.busyMs = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.busyMs += entry.duration;
    }).observe({ type: "longtask", buffered: false });
    const original = HTMLCanvasElement.prototype.toDataURL;
    HTMLCanvasElement.prototype.toDataURL = function (this: HTMLCanvasElement, ...args: Parameters<typeof original>) {
      if ((args[0] ?? "image/png") === "image/png") w.pngEncodes += 1;
      return original.apply(this, args);
    };
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

  await page.keyboard.press("d");
  await expect(viewer).toHaveAttribute("data-tool", "brush");
  const from = await pointIn(viewport, 0.2, 0.6);
  const to = await pointIn(viewport, 0.45, 0.7);
  const moves = Number(process.env.BRUSH_MOVES ?? 40);
  await page.mouse.move(from.x, from.y);
  await page.evaluate(() => {
    const w = window as unknown as { pngEncodes: number; busyMs: number };
    w.pngEncodes = 0;
    w.busyMs = 0;
  });
  const cdp = process.env.BRUSH_PROFILE ? await page.context().newCDPSession(page) : null;
  if (cdp) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.start");
  }
  await page.mouse.down();
  // A hand moves the pointer every frame or two: each move is sent after the page has handled
  // the one before (mouse.move waits for it), with a 30 ms pause like a slow stroke.
  // Per move: the time until the page has handled the pointer event (input), and until the
  // next frame after it (frame: WebGL rendering included, software-emulated here).
  const times: number[] = [];
  const inputTimes: number[] = [];
  for (let i = 1; i <= moves; i++) {
    const t0 = Date.now();
    await page.mouse.move(from.x + ((to.x - from.x) * i) / moves, from.y + ((to.y - from.y) * i) / moves);
    inputTimes.push(Date.now() - t0);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(null))));
    times.push(Date.now() - t0);
    await page.waitForTimeout(30);
  }
  if (cdp) {
    const { profile } = await cdp.send("Profiler.stop");
    const self = new Map<string, number>();
    const dt = profile.timeDeltas ?? [];
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    (profile.samples ?? []).forEach((id, i) => {
      const n = byId.get(id)!;
      const name = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
      self.set(name, (self.get(name) ?? 0) + (dt[i] ?? 0) / 1000);
    });
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
    console.log(top.map(([n, ms]) => `${ms.toFixed(0)} ms  ${n}`).join("\n"));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    for (const n of profile.nodes.filter((x) => x.callFrame.functionName === "toDataURL").slice(0, 3)) {
      const chain: string[] = [];
      for (let id: number | undefined = n.id; id !== undefined && chain.length < 14; id = parent.get(id)) {
        const f = byId.get(id)!.callFrame;
        chain.push(`${f.functionName || "(anon)"}:${f.lineNumber}:${f.columnNumber}`);
      }
      console.log(`toDataURL stack: ${chain.join(" < ")}`);
    }
  }
  const duringStroke = await page.evaluate(() => (window as unknown as { pngEncodes: number }).pngEncodes);
  const busyMs = await page.evaluate(() => (window as unknown as { busyMs: number }).busyMs);
  await page.mouse.up();
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);
  const afterStroke = await page.evaluate(() => (window as unknown as { pngEncodes: number }).pngEncodes);

  // The same moves dragging a box, for comparison (drawn, then undone).
  await page.keyboard.press("b");
  await expect(viewer).toHaveAttribute("data-tool", "box");
  const boxTimes: number[] = [];
  const boxInputTimes: number[] = [];
  const boxFrom = await pointIn(viewport, 0.55, 0.2);
  await page.mouse.move(boxFrom.x, boxFrom.y);
  await page.mouse.down();
  for (let i = 1; i <= moves; i++) {
    const t0 = Date.now();
    await page.mouse.move(boxFrom.x + (i * 120) / moves, boxFrom.y + (i * 60) / moves);
    boxInputTimes.push(Date.now() - t0);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(null))));
    boxTimes.push(Date.now() - t0);
    await page.waitForTimeout(30);
  }
  await page.mouse.up();
  await expect(findingItems).toHaveCount(listed.count + 2);
  await page.keyboard.press("Control+z");
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const sorted = [...times].sort((a, b) => a - b);
  const figures = {
    moves,
    brush_input_median_ms: median(inputTimes),
    brush_frame_median_ms: sorted[Math.floor(sorted.length / 2)],
    brush_frame_p90_ms: sorted[Math.floor(sorted.length * 0.9)],
    box_input_median_ms: median(boxInputTimes),
    box_frame_median_ms: median(boxTimes),
    brush_main_thread_long_tasks_per_move_ms: Math.round(busyMs / moves),
    png_encodes_during_stroke: duringStroke,
    png_encodes_for_stroke: afterStroke,
  };
  console.log(`brush per-move figures: ${JSON.stringify(figures)}`);
  console.log(`brush frame times (ms, in stroke order): ${times.join(" ")}`);
  await testInfo.attach("brush-per-move.json", { body: JSON.stringify({ ...figures, times, inputTimes, boxTimes, boxInputTimes }), contentType: "application/json" });

  // The behaviour: nothing is encoded while the pointer moves, one PNG when the stroke ends.
  expect(duringStroke).toBe(0);
  expect(afterStroke).toBe(1);
  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(1);
  expect(saved[0]!.marks.map((m) => m.kind)).toEqual(["mask"]);
});
