/** The slide viewer on a real whole-slide image (CMU-1-Small-Region.svs from the shared data):
 * it opens from the worklist, pans, zooms, and a polygon drawn on it is saved and restored. */

import { existsSync } from "node:fs";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { apiGet, clickAt, drag, expectSaved, humanFindings, keepScreenshot, pointIn, signIn } from "./helpers";

const SVS = "wsi-samples/CMU-1-Small-Region.svs";

interface SlideJson {
  id: number;
  exam: number;
  format: string;
  width: number;
  height: number;
}

function view(el: Locator) {
  return Promise.all([el.getAttribute("data-zoom"), el.getAttribute("data-center")]).then(([zoom, centre]) => ({
    zoom: Number(zoom),
    centre: (centre ?? "0,0").split(",").map(Number) as [number, number],
  }));
}

async function waitReady(page: Page, slideViewer: Locator): Promise<void> {
  await expect(slideViewer).toHaveAttribute("data-ready", "true", { timeout: 60_000 });
  await expect(slideViewer).not.toHaveAttribute("data-error", /.*/);
  await page.waitForLoadState("networkidle");
}

test("the slide viewer opens the real SVS, pans, zooms and keeps a polygon drawn on it", async ({ page }, testInfo) => {
  const shared = process.env.SENOLAB_SHARED_DATA ?? `${testInfo.project.testDir}/../../../shared/data`;
  const absent = `${SVS} is not under the shared data folder (${shared}; set SENOLAB_SHARED_DATA)`;
  if (!existsSync(`${shared}/${SVS}`)) console.log(`slide test skipped: ${absent}`);
  test.skip(!existsSync(`${shared}/${SVS}`), absent);

  await signIn(page);
  const slides = await apiGet<{ results: SlideJson[] }>(page, "slides/?page_size=100");
  const slide = slides.results.find((s) => s.format === "svs");
  expect(slide, "e2e/server.py loaded the SVS from the shared data").toBeDefined();
  const { id, exam, width, height } = slide!;
  expect([width, height]).toEqual([2220, 2967]);
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));

  // From the worklist: the exam's row links to its slide viewer.
  const tiles: number[] = [];
  page.on("response", (r) => {
    if (r.url().includes(`/api/slides/${id}/t/`)) tiles.push(r.status());
  });
  await page.locator(`[data-testid=worklist-row][data-exam-id="${exam}"] a[href="/slides/${id}/"]`).click();
  await expect(page).toHaveURL(new RegExp(`/slides/${id}/$`));
  const slideViewer = page.getByTestId("slide-viewer");
  await waitReady(page, slideViewer);
  await expect(page.locator(".slide-page .meta")).toContainText("2,220 × 2,967 px");
  expect(tiles.length).toBeGreaterThan(0);
  expect(tiles.every((s) => s === 200)).toBe(true);

  // Zoom in twice (×1.5 each), then pan by dragging: the centre moves the other way.
  const home = await view(slideViewer);
  await page.getByRole("button", { name: "+", exact: true }).click();
  await page.keyboard.press("=");
  await expect.poll(async () => (await view(slideViewer)).zoom / home.zoom, { timeout: 10_000 }).toBeCloseTo(2.25, 1);
  const zoomed = await view(slideViewer);
  await drag(page, await pointIn(slideViewer, 0.6, 0.6), await pointIn(slideViewer, 0.4, 0.5), 10);
  await expect.poll(async () => (await view(slideViewer)).centre[0], { timeout: 10_000 }).toBeGreaterThan(zoomed.centre[0] + 50);
  const panned = await view(slideViewer);
  expect(panned.centre[1]).toBeGreaterThan(zoomed.centre[1] + 20);
  await waitReady(page, slideViewer);
  expect(tiles.every((s) => s === 200)).toBe(true);

  // A polygon: four clicks, Enter closes it.
  const panel = page.getByTestId("findings");
  const listed = await apiGet<{ count: number }>(page, `findings/?exam=${exam}`);
  await expect(panel.getByTestId("finding")).toHaveCount(listed.count);
  await page.keyboard.press("p");
  await expect(slideViewer).toHaveAttribute("data-tool", "polygon");
  const corners = [[0.35, 0.3], [0.6, 0.35], [0.55, 0.65], [0.3, 0.55]] as const;
  const screen = [];
  for (const [fx, fy] of corners) {
    const p = await pointIn(slideViewer, fx, fy);
    screen.push(p);
    await clickAt(page, p);
    await page.waitForTimeout(350); // two clicks in a row are not a double-click
  }
  await page.keyboard.press("Enter");
  await expect(panel.getByTestId("finding")).toHaveCount(listed.count + 1);
  const drawn = page.getByTestId("slide-mark").and(page.locator('[data-kind="polygon"]'));
  await expect(drawn).toHaveCount(1);
  // Drawn where it was clicked.
  const box = (await drawn.boundingBox())!;
  const xs = screen.map((p) => p.x);
  const ys = screen.map((p) => p.y);
  // (the box of the SVG shape takes in its 3 px stroke and the mitres of its corners)
  expect(Math.abs(box.x - Math.min(...xs))).toBeLessThan(12);
  expect(Math.abs(box.y + box.height - Math.max(...ys))).toBeLessThan(12);
  await expectSaved(page);

  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(1);
  const mark = saved[0]!.marks[0]!;
  expect(mark).toMatchObject({ kind: "polygon", slide: id, image: null });
  const points = mark.geometry.points as [number, number][];
  expect(points).toHaveLength(4);
  // In level-0 slide pixels around the centre of the view it was drawn in.
  for (const [x, y] of points) {
    expect(x).toBeGreaterThan(0);
    expect(x).toBeLessThan(width);
    expect(y).toBeGreaterThan(0);
    expect(y).toBeLessThan(height);
  }
  const cx = points.reduce((s, p) => s + p[0], 0) / 4;
  const cy = points.reduce((s, p) => s + p[1], 0) / 4;
  const span = 0.5 * (await slideViewer.boundingBox())!.width / panned.zoom;
  expect(Math.abs(cx - panned.centre[0])).toBeLessThan(span);
  expect(Math.abs(cy - panned.centre[1])).toBeLessThan(span);

  await page.reload();
  await waitReady(page, slideViewer);
  await expect(panel.getByTestId("finding")).toHaveCount(listed.count + 1);
  const restored = panel.locator(`[data-finding-id="${saved[0]!.id}"]`);
  await expect(restored).toContainText("1 mark");
  await restored.click();
  await expect(panel.getByTestId("mark")).toHaveText([/polygon \(4 points\)/]);
  await expect(page.locator(`[data-testid=slide-mark][data-finding-id="${saved[0]!.id}"]`)).toHaveAttribute("data-kind", "polygon");
  await expectSaved(page);
  await keepScreenshot(page, testInfo, "slide-polygon");
});
