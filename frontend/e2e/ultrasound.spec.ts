/** A brush mask on an ultrasound image: painted, saved as a mask mark, painted back after a
 * reload. */

import { expect, test, type Locator, type Page } from "@playwright/test";
import { apiGet, drag, expectSaved, humanFindings, keepScreenshot, pointIn, signIn } from "./helpers";

/** The colour on screen at a fraction of a viewport (the 2D canvas Cornerstone draws into). */
async function colourAt(viewport: Locator, fx: number, fy: number): Promise<[number, number, number]> {
  return viewport.locator("canvas").first().evaluate(
    (canvas: HTMLCanvasElement, [x, y]) => {
      const copy = document.createElement("canvas");
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext("2d")!;
      ctx.drawImage(canvas, 0, 0);
      const d = ctx.getImageData(Math.round(canvas.width * x!), Math.round(canvas.height * y!), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!] as [number, number, number];
    },
    [fx, fy],
  );
}

const tinted = ([r, g, b]: [number, number, number]) => Math.max(r, g, b) - Math.min(r, g, b);

/** Pixels set in a stored mask PNG (decoded by the browser). */
async function maskPixels(page: Page, markId: number): Promise<{ width: number; height: number; set: number }> {
  return page.evaluate(async (id) => {
    const response = await fetch(`/api/marks/${id}/mask.png`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`mask.png: HTTP ${response.status}`);
    const bitmap = await createImageBitmap(await response.blob());
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    let set = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! > 0 || data[i + 1]! > 0 || data[i + 2]! > 0) set++;
    return { width: bitmap.width, height: bitmap.height, set };
  }, markId);
}

test("a brush mask painted on an ultrasound image is saved and painted back after a reload", async ({ page }, testInfo) => {
  await signIn(page);
  const exams = await apiGet<{ results: { id: number; modalities: string[] }[] }>(page, "exams/?page_size=100");
  const us = exams.results.find((e) => e.modalities.includes("US"));
  expect(us, "the Demo project has an ultrasound exam").toBeDefined();
  const exam = us!.id;
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));

  await page.goto(`/exams/${exam}/`);
  const viewer = page.getByTestId("viewer");
  const viewport = viewer.getByTestId("viewport").first();
  await expect(viewport).toHaveAttribute("data-full-res", "true", { timeout: 60_000 });
  const panel = page.getByTestId("findings");
  const findingItems = panel.getByTestId("finding");
  const listed = await apiGet<{ count: number }>(page, `findings/?exam=${exam}`);
  await expect(findingItems).toHaveCount(listed.count);

  // Where the stroke goes is plain grey image before it.
  const spot: [number, number] = [0.3, 0.35];
  expect(tinted(await colourAt(viewport, ...spot))).toBeLessThan(12);

  await page.keyboard.press("d");
  await expect(viewer).toHaveAttribute("data-tool", "brush");
  await drag(page, await pointIn(viewport, 0.25, 0.35), await pointIn(viewport, 0.38, 0.35), 12);
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);

  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(1);
  const mark = saved[0]!.marks[0]!;
  expect(mark.kind).toBe("mask");
  expect(mark.image).toBe(Number(await viewport.getAttribute("data-image-id")));
  const g = mark.geometry as { x: number; y: number; width: number; height: number };
  expect(g.width).toBeGreaterThan(g.height); // a horizontal stroke
  const stored = await maskPixels(page, mark.id);
  expect([stored.width, stored.height]).toEqual([g.width, g.height]);
  expect(stored.set).toBeGreaterThan(0.3 * g.width * g.height);

  await page.reload();
  await expect(viewport).toHaveAttribute("data-full-res", "true", { timeout: 60_000 });
  await expect(findingItems).toHaveCount(listed.count + 1);
  const restored = panel.locator(`[data-finding-id="${saved[0]!.id}"]`);
  await expect(restored).toContainText("1 mark");
  await restored.click();
  await expect(panel.getByTestId("mark")).toHaveText([/mask on US/]);
  // The mask is painted over the image again where the stroke went.
  await expect.poll(async () => tinted(await colourAt(viewport, ...spot)), { timeout: 20_000 }).toBeGreaterThan(30);
  await expectSaved(page);
  await keepScreenshot(page, testInfo, "ultrasound-mask");
});
