/** No reader's work is lost (issue 16, defect 2): undoing the deletion of a brush-mask finding
 * brings it back in full, and work the server refuses is kept in the browser and put back
 * after a reload. */

import { expect, test, type Page } from "@playwright/test";
import { apiGet, drag, expectSaved, humanFindings, pointIn, signIn } from "./helpers";

async function openExam(page: Page, modality: "US" | "MG"): Promise<number> {
  const exams = await apiGet<{ results: { id: number; modalities: string[] }[] }>(page, "exams/?page_size=100");
  const matching = exams.results.filter((e) => e.modalities.includes(modality));
  const exam = modality === "US" ? matching[0]!.id : Math.max(...matching.map((e) => e.id));
  await page.goto(`/exams/${exam}/`);
  const full = page.getByTestId("viewer").locator("[data-testid=viewport][data-full-res=true]");
  await expect(full).toHaveCount(modality === "US" ? 1 : 4, { timeout: 60_000 });
  return exam;
}

test("undoing the deletion of a brush-mask finding brings it back, saved with its mask, after a reload too", async ({ page }) => {
  await signIn(page);
  const exam = await openExam(page, "US");
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));
  const viewer = page.getByTestId("viewer");
  const viewport = viewer.getByTestId("viewport").first();
  const panel = page.getByTestId("findings");
  const findingItems = panel.getByTestId("finding");
  const listed = await apiGet<{ count: number }>(page, `findings/?exam=${exam}`);
  await expect(findingItems).toHaveCount(listed.count);

  await page.keyboard.press("d");
  await expect(viewer).toHaveAttribute("data-tool", "brush");
  await drag(page, await pointIn(viewport, 0.55, 0.25), await pointIn(viewport, 0.7, 0.28), 8);
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);
  const [painted] = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(painted?.marks.map((m) => m.kind)).toEqual(["mask"]);

  // Delete it (selected in the list), saved; then undo.
  await panel.locator(`[data-finding-id="${painted!.id}"]`).click();
  await page.keyboard.press("Delete");
  await expect(findingItems).toHaveCount(listed.count);
  await expectSaved(page);
  expect((await humanFindings(page, exam)).filter((f) => !before.has(f.id))).toHaveLength(0);
  await page.keyboard.press("Control+z");
  await expect(findingItems).toHaveCount(listed.count + 1);
  await expectSaved(page);
  await expect(page.getByTestId("save-status")).not.toContainText("Not saved");

  const back = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(back).toHaveLength(1);
  expect(back[0]!.marks.map((m) => m.kind)).toEqual(["mask"]);
  expect(back[0]!.marks[0]!.geometry).toEqual(painted!.marks[0]!.geometry);
  const mask = await page.request.get(`/api/marks/${back[0]!.marks[0]!.id}/mask.png`);
  expect(mask.status()).toBe(200);

  await page.reload();
  await expect(viewport).toHaveAttribute("data-full-res", "true", { timeout: 60_000 });
  await expect(panel.locator(`[data-finding-id="${back[0]!.id}"]`)).toContainText("1 mark");
});

test("work the server refuses is kept in the browser, put back after a reload with a notice, and saved", async ({ page }) => {
  await signIn(page);
  const exam = await openExam(page, "MG");
  const before = new Set((await humanFindings(page, exam)).map((f) => f.id));
  const viewer = page.getByTestId("viewer");
  const rcc = viewer.locator('[data-slot="R-CC"]');
  const findingItems = page.getByTestId("findings").getByTestId("finding");
  await expect(findingItems).toHaveCount(before.size);

  // The server refuses every new finding (as it refused the undone mask).
  const refuse = (route: import("@playwright/test").Route) =>
    route.request().method() === "POST"
      ? route.fulfill({ status: 400, contentType: "application/json", body: JSON.stringify({ error: { code: "invalid", message: "refused by the test" } }) })
      : route.continue();
  await page.route("**/api/findings/", refuse);
  await page.keyboard.press("b");
  await drag(page, await pointIn(rcc, 0.45, 0.3), await pointIn(rcc, 0.65, 0.42));
  await expect(findingItems).toHaveCount(before.size + 1);
  await page.keyboard.press("3");
  await expect(page.getByTestId("save-status")).toHaveAttribute("data-state", "error", { timeout: 20_000 });

  // The reader reloads (and confirms leaving with unsaved work); the server still refuses.
  page.on("dialog", (dialog) => void dialog.accept());
  await page.reload();
  await expect(viewer.locator("[data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });
  await expect(page.getByTestId("restored-notice")).toBeVisible();
  await expect(page.getByTestId("restored-notice")).toContainText("Restored 1 unsaved change");
  await expect(findingItems).toHaveCount(before.size + 1);
  await expect(page.getByTestId("save-status")).toHaveAttribute("data-state", "error", { timeout: 20_000 });

  // The server accepts again: "Retry now" saves the restored finding.
  await page.unroute("**/api/findings/", refuse);
  await page.getByRole("button", { name: "Retry now" }).click();
  await expectSaved(page);
  const saved = (await humanFindings(page, exam)).filter((f) => !before.has(f.id));
  expect(saved).toHaveLength(1);
  expect(saved[0]).toMatchObject({ birads: "3" });
  expect(saved[0]!.marks.map((m) => m.kind)).toEqual(["box"]);
  // Saved: the browser's copy is gone, a reload restores nothing more.
  await page.reload();
  await expect(viewer.locator("[data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });
  await expect(findingItems).toHaveCount(before.size + 1);
  await expect(page.getByTestId("restored-notice")).toHaveCount(0);
});
