/** The exam page: sign in, open a four-view mammogram from the worklist, the hanging protocol,
 * and a finding drawn on CC, linked to MLO and labelled, restored after a reload. */

import { expect, test } from "@playwright/test";
import { clickAt, drag, examImages, expectSaved, humanFindings, keepScreenshot, pointIn, signIn } from "./helpers";

const FOUR_VIEWS = ["R-CC", "L-CC", "R-MLO", "L-MLO"];

test("a reader signs in, opens a four-view exam from the worklist and sees it hung R-CC, L-CC, R-MLO, L-MLO, mirrored", async ({ page }) => {
  await signIn(page);
  const row = page.getByTestId("worklist-row").filter({ hasText: "MG" }).first();
  await expect(row).toBeVisible();
  const exam = Number(await row.getAttribute("data-exam-id"));
  await row.click();

  await expect(page).toHaveURL(new RegExp(`/exams/${exam}/$`));
  const viewer = page.getByTestId("viewer");
  await expect(viewer).toHaveAttribute("data-layout", "mammo");
  const viewports = viewer.getByTestId("viewport");
  await expect(viewports).toHaveCount(4);
  expect(await viewports.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.slot))).toEqual(FOUR_VIEWS);
  await expect(viewer.locator("[data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });

  // Each slot shows the image of its laterality and view.
  const images = await examImages(page, exam);
  for (const slot of FOUR_VIEWS) {
    const id = Number(await viewer.locator(`[data-slot="${slot}"]`).getAttribute("data-image-id"));
    const image = images.get(id);
    expect(image, `image of ${slot}`).toBeDefined();
    expect(`${image!.laterality}-${image!.view}`).toBe(slot);
  }
  // Mirrored: right breasts have their chest wall on the right edge, left breasts on the left,
  // whichever way the pixels were stored.
  for (const slot of FOUR_VIEWS) {
    const vp = viewer.locator(`[data-slot="${slot}"]`);
    const stored = await vp.getAttribute("data-chest-wall");
    expect(stored, `chest wall of ${slot} found in the pixels`).toMatch(/^(left|right)$/);
    const flipped = (await vp.getAttribute("data-flipped")) === "true";
    const shown = flipped ? (stored === "left" ? "right" : "left") : stored;
    expect(shown, `chest wall of ${slot} on screen`).toBe(slot.startsWith("R") ? "right" : "left");
  }
  // The screen agrees: the tissue of R-CC is brighter at its right edge than at its left.
  const shot = await viewer.locator('[data-slot="R-CC"] canvas').first().evaluate((canvas: HTMLCanvasElement) => {
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext("2d")!;
    ctx.drawImage(canvas, 0, 0);
    const strip = (x0: number) => {
      const data = ctx.getImageData(x0, 0, Math.max(1, Math.round(canvas.width * 0.1)), canvas.height).data;
      let sum = 0;
      for (let i = 0; i < data.length; i += 4) sum += data[i]!;
      return sum;
    };
    return { left: strip(0), right: strip(Math.round(canvas.width * 0.9)) };
  });
  expect(shot.right).toBeGreaterThan(shot.left);

  // "?" lists the keys of the page, from the same table that binds them; Escape closes it.
  await page.keyboard.press("?");
  const help = page.getByTestId("shortcut-help");
  await expect(help).toBeVisible();
  await expect(help.locator("dt", { has: page.locator("kbd", { hasText: /^p$/ }) }).locator("xpath=following-sibling::dd[1]")).toContainText("Polygon");
  await expect(help.locator("h3")).toContainText(["Tools", "View", "Findings"]);
  await page.keyboard.press("Escape");
  await expect(help).toBeHidden();
});

test("a box and a polygon on CC, one linked to MLO and labelled BI-RADS 4, come back after a reload", async ({ page }, testInfo) => {
  await signIn(page);
  // The Demo project's last mammogram has no imported lesions: only what this test draws.
  const exams = await page.request.get("/api/exams/?modality=MG&page_size=100").then((r) => r.json());
  const mg = (exams.results as { id: number; modalities: string[] }[]).filter((e) => e.modalities.includes("MG"));
  const exam = Math.max(...mg.map((e) => e.id));
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));

  await page.goto(`/exams/${exam}/`);
  const viewer = page.getByTestId("viewer");
  await expect(viewer.locator("[data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });
  const images = await examImages(page, exam);
  const imageOf = async (slot: string) => Number(await viewer.locator(`[data-slot="${slot}"]`).getAttribute("data-image-id"));
  const rcc = viewer.locator('[data-slot="R-CC"]');
  const rmlo = viewer.locator('[data-slot="R-MLO"]');
  const panel = page.getByTestId("findings");
  const findingItems = panel.getByTestId("finding");
  // Findings an earlier attempt left (a retry on the same server) are listed too.
  const startCount = before.size;
  await expect(findingItems).toHaveCount(startCount);

  // A box on R-CC: a new finding, selected.
  await page.keyboard.press("b");
  await expect(viewer).toHaveAttribute("data-tool", "box");
  await drag(page, await pointIn(rcc, 0.5, 0.38), await pointIn(rcc, 0.75, 0.47));
  await expect(findingItems).toHaveCount(startCount + 1);

  // A polygon on R-CC: click the corners, then the first one again to close it.
  await page.getByRole("button", { name: /^Polygon/ }).click();
  await expect(viewer).toHaveAttribute("data-tool", "polygon");
  const corners = [[0.3, 0.5], [0.55, 0.52], [0.5, 0.62], [0.32, 0.6]] as const;
  for (const [fx, fy] of corners) await clickAt(page, await pointIn(rcc, fx, fy));
  await clickAt(page, await pointIn(rcc, corners[0][0], corners[0][1]));
  await expect(findingItems).toHaveCount(startCount + 2);

  // The polygon's finding is selected: link it to R-MLO by drawing its box there, then BI-RADS 4.
  const polygonFinding = panel.locator(".finding.selected");
  await expect(polygonFinding).toContainText("1 mark");
  await page.getByRole("button", { name: "Link to view" }).click();
  await expect(viewer).toHaveAttribute("data-link-mode", "true");
  await page.keyboard.press("b");
  await drag(page, await pointIn(rmlo, 0.5, 0.45), await pointIn(rmlo, 0.68, 0.58));
  await expect(findingItems).toHaveCount(startCount + 2);
  await expect(polygonFinding).toContainText("2 marks");
  await panel.locator("select[name=birads]").selectOption("4");
  await panel.locator("select[name=finding_type]").selectOption("mass");
  await expect(polygonFinding.locator(".birads")).toHaveText("4");
  await expectSaved(page);

  // The server holds the box alone, and the polygon with its MLO box, BI-RADS 4.
  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(2);
  const box = saved.find((f) => f.marks.length === 1);
  const linked = saved.find((f) => f.marks.length === 2);
  expect(box?.marks[0]).toMatchObject({ kind: "box", image: await imageOf("R-CC") });
  expect(linked).toMatchObject({ birads: "4", finding_type: "mass", laterality: "R" });
  const polygon = linked!.marks.find((m) => m.kind === "polygon");
  const mloBox = linked!.marks.find((m) => m.kind === "box");
  expect(polygon?.image).toBe(await imageOf("R-CC"));
  expect((polygon?.geometry.points as unknown[]).length).toBe(4);
  expect(mloBox?.image).toBe(await imageOf("R-MLO"));
  const rccImage = images.get(polygon!.image!)!;
  const g = box!.marks[0]!.geometry as { x: number; y: number; width: number; height: number };
  expect(g.width).toBeGreaterThan(10);
  expect(g.height).toBeGreaterThan(10);
  expect(g.x + g.width).toBeLessThanOrEqual(rccImage.columns);

  // Reload: the panel and the viewports show the same findings again.
  await page.reload();
  await expect(viewer.locator("[data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });
  await expect(findingItems).toHaveCount(startCount + 2);
  const restored = panel.locator(`[data-finding-id="${linked!.id}"]`);
  await expect(restored).toContainText("2 marks");
  await expect(restored.locator(".birads")).toHaveText("4");
  await expect(panel.locator(`[data-finding-id="${box!.id}"]`)).toContainText("1 mark");
  await restored.click();
  await expect(panel.getByTestId("mark")).toHaveCount(2);
  await expect(panel.getByTestId("mark").filter({ hasText: "polygon on R-CC" })).toHaveCount(1);
  await expect(panel.getByTestId("mark").filter({ hasText: "box on R-MLO" })).toHaveCount(1);
  await expect(panel.locator("select[name=birads]")).toHaveValue("4");
  // The marks are drawn again on the viewports (Cornerstone's SVG layer).
  const shapes = (slot: string) => viewer.locator(`[data-slot="${slot}"] svg`).locator("path, polyline, polygon, rect, ellipse");
  await expect.poll(() => shapes("R-CC").count()).toBeGreaterThanOrEqual(2);
  await expect.poll(() => shapes("R-MLO").count()).toBeGreaterThanOrEqual(1);
  expect(await shapes("L-CC").count()).toBe(0);
  await expectSaved(page);
  await keepScreenshot(page, testInfo, "exam-four-view");
});
