/** Reviewing AI proposals on the exam page: the proposals drawn as their own dashed layer with
 * their probability map under them and the class scores in the side panel; one edited and
 * saved, another accepted from the keyboard; the provenance of both read back from the API.
 *
 * frontend/e2e/server.py seeds an active lesion-centre detector (the mias-localisation recipe,
 * freshly initialised, not trained) and its real proposals on the second mammogram of the list. */

import { expect, test } from "@playwright/test";
import { apiGet, keepScreenshot, signIn } from "./helpers";

interface PredictionJson {
  id: number;
  image: number | null;
  provenance: string;
  reviewed_by: number | null;
  reviewed_at: string | null;
  heatmap_kind: string;
  review: { overlap?: { iou: number; dice: number }; findings?: number[] };
  outputs: { lesions?: { cx: number; cy: number; radius: number }[] };
}

interface OriginFinding {
  id: number;
  origin: { kind?: string; prediction?: number; model_version?: number; overlap?: { iou: number; dice: number } };
  marks: { kind: string; geometry: Record<string, number> }[];
}

test("a proposal is shown with its map, edited and accepted, and its provenance stored", async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await signIn(page);
  const exams = await apiGet<{ results: { id: number }[] }>(page, "exams/?modality=MG&page_size=100");
  const exam = exams.results[1]!.id;
  const before = await apiGet<PredictionJson[]>(page, `exams/${exam}/proposals/`);
  const withLesions = before.filter((p) => p.image !== null && (p.outputs.lesions?.length ?? 0) > 0);
  expect(withLesions.length, "seeded proposals with lesion circles").toBeGreaterThan(1);
  expect(withLesions.every((p) => p.heatmap_kind === "probability")).toBe(true);

  await page.goto(`/exams/${exam}/`);
  const status = page.getByTestId("ai-status");
  await expect(status).toHaveAttribute("data-state", "shown", { timeout: 30_000 });
  // Class scores in the side panel, the proposals to review listed under them.
  await expect(status.getByTestId("ai-scores").first()).toBeVisible();
  const list = status.getByTestId("ai-proposals");
  await expect(list.locator("li")).toHaveCount(withLesions.length);

  // The layer: dashed circles of their own colour with a score, over the probability map.
  await page.keyboard.press("a");
  const layer = page.getByTestId("proposals").first();
  await expect(layer.locator("circle.proposal").first()).toBeVisible();
  await expect(layer.locator("image.proposal-map").first()).toBeAttached({ timeout: 15_000 });
  await expect(layer.locator("text").first()).toContainText("%");
  const dash = await layer.locator("circle.proposal").first().evaluate((el) => getComputedStyle(el).strokeDasharray);
  expect(dash).not.toBe("none");
  // The map's opacity follows the slider.
  await status.getByTestId("map-opacity").fill("80");
  await expect(layer.locator("image.proposal-map").first()).toHaveAttribute("opacity", "0.8");
  await keepScreenshot(page, testInfo, "review");

  // Edit the first proposal: a larger circle, saved as a finding.
  const first = withLesions[0]!;
  const item = list.locator(`li[data-proposal="${first.id}"]`);
  await item.getByRole("button", { name: "Edit" }).click();
  const form = item.getByRole("form", { name: "Edit proposal" });
  const radius = (first.outputs.lesions![0]!.radius ?? 20) * 2;
  await form.getByLabel("Radius").fill(String(radius));
  await form.getByRole("button", { name: "Save edit" }).click();
  await expect(status.locator(".ai-note")).toHaveText("Saved as an edited finding.");
  await expect(list.locator(`li[data-proposal="${first.id}"]`)).toHaveCount(0);

  // Accept the next one from the keyboard: select it (g), accept it (y).
  await page.locator("main.viewer").hover();
  await page.keyboard.press("g");
  const selected = await list.locator("li.selected").getAttribute("data-proposal");
  expect(selected).not.toBeNull();
  await page.keyboard.press("y");
  await expect(status.locator(".ai-note")).toHaveText("Accepted as a finding.");

  const findingsOf = async () => (await apiGet<{ results: OriginFinding[] }>(page, `findings/?exam=${exam}&page_size=100`)).results;
  const editedFinding = (all: OriginFinding[]) => all.find((f) => f.origin.prediction === first.id)!;
  // The API holds the provenance of both, and the findings name the proposals they came from.
  const edited = await apiGet<PredictionJson>(page, `predictions/${first.id}/`);
  expect(edited.provenance).toBe("edited");
  expect(edited.reviewed_by).not.toBeNull();
  expect(edited.reviewed_at).not.toBeNull();
  // The overlap of the proposal's circles with the final, larger one: partial, Dice above IoU.
  const overlap = edited.review.overlap!;
  expect(overlap.iou).toBeGreaterThan(0);
  expect(overlap.iou).toBeLessThan(1);
  expect(overlap.dice).toBeGreaterThan(overlap.iou);
  expect(editedFinding(await findingsOf()).origin.overlap).toEqual(overlap);
  const accepted = await apiGet<PredictionJson>(page, `predictions/${selected}/`);
  expect(accepted.provenance).toBe("accepted");
  const findings = await findingsOf();
  expect(editedFinding(findings).origin.kind).toBe("edited");
  expect(editedFinding(findings).marks[0]!.kind).toBe("ellipse");
  expect(editedFinding(findings).marks[0]!.geometry.rx).toBeCloseTo(radius, 0);
  const acceptedFinding = findings.find((f) => f.origin.prediction === Number(selected))!;
  expect(acceptedFinding.origin.kind).toBe("accepted");
  // And the viewer shows them as the reader's own marks now.
  await expect(status.getByTestId("ai-proposals").locator("li")).toHaveCount(withLesions.length - 2);
});
