/** The ML pages from the browser: a training started from /ml/runs/ with its progress bar until
 * it ends on the registered model version; the version page (trained by, rounded metrics, charts)
 * activating it; the exam viewer's AI layer saying why it shows nothing, then running a
 * prediction with its progress; a prediction started from the version page; a retraining policy
 * run now, its decision on the runs page.
 *
 * frontend/e2e/server.py runs Celery eagerly: a job runs inside the POST that starts it, so its
 * progress cannot be seen moving. The page shows the bar from the click (a moving bar while the
 * request runs), and these tests check that it was there and that the page ends on the result. */

import { expect, test, type Page } from "@playwright/test";
import { SYNTHETIC_RUN, SYNTHETIC_VERSION } from "./fixtures/mlSynthetic";
import { READER, apiGet, apiSend, keepScreenshot, signIn } from "./helpers";

// A small classification recipe the Demo project has labels for (breast density on its
// synthetic mammograms); one epoch trains in seconds on a CPU.
const RECIPE = "mias-density";

interface RunJson {
  id: number;
  created_by: string | null;
  params: { overrides?: { epochs?: number }; ground_truth?: string };
  model_version: number | null;
  job: { status: string } | null;
}

test.describe.configure({ mode: "serial" });

let versionId = 0;

async function examOf(page: Page, modality: string): Promise<number> {
  const body = await apiGet<{ results: { id: number }[] }>(page, `exams/?modality=${modality}&page_size=1`);
  expect(body.results.length, `a ${modality} exam in the Demo project`).toBeGreaterThan(0);
  return body.results[0]!.id;
}

test("a training started from the runs page shows its progress bar and ends on the model version", async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  await signIn(page);
  await page.goto("/ml/runs/");
  const form = page.getByRole("form", { name: "Start a training" });
  await form.getByLabel("Recipe").selectOption(RECIPE);
  await form.getByLabel("Snapshot filter").selectOption("any");
  await form.getByLabel("Epochs").fill("1");
  await form.getByRole("button", { name: "Start training" }).click();

  const section = page.locator("section", { has: form });
  const progress = section.getByTestId("job-progress");
  await expect(progress).toBeVisible(); // from the click on, while the request trains
  await expect(section.getByRole("progressbar", { name: "Training progress" })).toBeVisible();
  const result = section.getByTestId("job-result");
  await expect(result).toContainText("registered", { timeout: 200_000 });
  await expect(progress).toHaveAttribute("data-status", "succeeded");
  await expect(section.getByRole("progressbar", { name: "Training progress" })).toHaveAttribute("aria-valuenow", "100");

  // The API agrees: the run was started by the reader with one epoch and registered a version.
  const runs = await apiGet<{ results: RunJson[] }>(page, "training-runs/");
  const run = runs.results[0]!;
  expect(run.created_by).toBe(READER);
  expect(run.params.overrides?.epochs).toBe(1);
  expect(run.job?.status).toBe("succeeded");
  expect(run.model_version).not.toBeNull();
  versionId = run.model_version!;

  // The tables show the run and the version, with its AUC or accuracy rounded.
  await expect(page.locator(`#runs tr[data-run="${run.id}"]`)).toContainText(READER);
  await expect(page.locator(`#versions tr[data-version="${versionId}"]`)).toContainText(RECIPE);
  await keepScreenshot(page, testInfo, "ml-runs");

  // The run page: curves drawn and the epoch table in words, no raw dicts.
  await page.goto(`/ml/runs/${run.id}/`);
  await expect(page.getByRole("heading", { name: `Training run #${run.id}` })).toBeVisible();
  await expect(page.locator("figure.chart-figure").first()).toBeVisible();
  await expect(page.locator("main")).not.toContainText("{");
  await expect(page.locator("main")).toContainText("Training loss");
});

test("the version page says who trained it, rounds its metrics, draws its charts and activates it", async ({ page }) => {
  expect(versionId, "the training test registered a version").toBeGreaterThan(0);
  await signIn(page);
  await page.goto(`/ml/versions/${versionId}/`);
  const main = page.locator("main");
  await expect(main.locator(".facts")).toContainText(`Trained by${READER}`);
  const metrics = main.locator("table.metrics");
  await expect(metrics).toBeVisible();
  await expect(main).not.toContainText("{");
  for (const cell of await metrics.locator("td").allTextContents()) {
    expect(cell, "a metric rounded to at most three decimals").not.toMatch(/\d\.\d{4,}/);
  }
  // The Demo project's four mammograms leave the test split empty: the page says so.
  await expect(main).toContainText("The test split of this version's snapshot holds no cases");

  await main.getByRole("button", { name: "Activate" }).click();
  await expect(page.getByTestId("version-status")).toHaveText("active");
  const version = await apiGet<{ status: string }>(page, `model-versions/${versionId}/`);
  expect(version.status).toBe("active");
});

test("the AI layer says why it shows nothing, and a reviewer runs a prediction from the exam page", async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page);
  // No model for ultrasound: the layer says so.
  const us = await examOf(page, "US");
  await page.goto(`/exams/${us}/`);
  await expect(page.getByTestId("ai-status")).toContainText("no active model for US");
  await expect(page.getByTestId("ai-status").getByRole("button", { name: "Run a prediction" })).toHaveCount(0);

  // The MG model is active but has not seen this exam: run one from here.
  const mg = await examOf(page, "MG");
  await page.goto(`/exams/${mg}/`);
  const status = page.getByTestId("ai-status");
  await expect(status).toContainText("no predictions for this exam yet: run one");
  await status.getByRole("button", { name: "Run a prediction" }).click();
  await expect(status.getByTestId("job-progress")).toBeVisible();
  await expect(status).toHaveAttribute("data-state", "shown", { timeout: 120_000 });
  await expect(status).toContainText(/\d+ predictions? of mias-density v\d+/);
  const proposals = await apiGet<unknown[]>(page, `exams/${mg}/proposals/`);
  expect(proposals.length).toBeGreaterThan(0);
});

test("a prediction started from the version page shows its progress and ends on the exams it predicted", async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page);
  await page.goto(`/ml/versions/${versionId}/`);
  const form = page.getByRole("form", { name: "Predict" });
  await form.getByRole("button", { name: "Predict" }).click(); // empty: every MG exam
  const section = page.locator("section", { has: form });
  await expect(section.getByTestId("job-progress")).toBeVisible();
  await expect(section.getByTestId("job-result")).toContainText("predictions stored for", { timeout: 150_000 });
  await expect(section.getByTestId("job-progress")).toHaveAttribute("data-status", "succeeded");
  await expect(section.getByTestId("job-result").getByRole("link").first()).toHaveAttribute("href", /\/exams\/\d+\/$/);
});

test("pictures of a version with test metrics and of a run with its curves (recorded API answers)", async ({ page }, testInfo) => {
  // The Demo project's test split is empty: the version and run shown here are the API's answers
  // recorded from a busi-malignancy training on the synthetic exams of tests/ml/conftest.py,
  // served in place of the Demo run's (e2e/fixtures/mlSynthetic.ts).
  await signIn(page);
  const run = (await apiGet<{ results: (RunJson & { project: number })[] }>(page, "training-runs/")).results.at(-1)!;
  const ids = { project: run.project, training_run: run.id };
  await page.route(`**/api/model-versions/${versionId}/`, (route) =>
    route.request().method() === "GET" ? route.fulfill({ json: { ...SYNTHETIC_VERSION, ...ids, id: versionId } }) : route.continue(),
  );
  await page.route(`**/api/training-runs/${run.id}/`, (route) =>
    route.fulfill({ json: { ...SYNTHETIC_RUN, project: run.project, id: run.id, model_version: versionId } }),
  );
  await page.setViewportSize({ width: 1280, height: 1200 });
  await page.goto(`/ml/versions/${versionId}/`);
  const main = page.locator("main");
  await expect(main.getByRole("table", { name: "Confusion matrix" })).toBeVisible();
  await expect(main.locator("figure.chart-figure")).toHaveCount(3);
  await expect(main.locator("table.metrics tr").first()).toHaveText(/^AUC \(95% CI\)\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$/);
  await expect(main).not.toContainText("{");
  await keepScreenshot(page, testInfo, "ml-version");

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`/ml/runs/${run.id}/`);
  await expect(main.locator("figure.chart-figure")).toHaveCount(2);
  await expect(main.locator("figure.chart-figure").first().locator(".chart-legend li")).toHaveText(["Training loss", "Validation loss"]);
  await keepScreenshot(page, testInfo, "ml-run");
});

test("a retraining policy run now ends on its decision and lineage in the runs page", async ({ page }) => {
  test.setTimeout(240_000);
  expect(versionId, "the training test registered a version").toBeGreaterThan(0);
  await signIn(page);
  await page.goto("/ml/runs/");
  const { project } = await apiGet<{ project: number }>(page, `model-versions/${versionId}/`);
  // A policy with an hourly look; a metric the recipe does not report is refused by name.
  const policy = { project, recipe: RECIPE, overrides: { epochs: 1 }, interval_seconds: 3600, metric: "auc", margin: 0.05 };
  const refused = await apiSend<{ error: { detail: Record<string, string[]> } }>(page, "POST", "retraining-policies/", { ...policy, metric: "dice" });
  expect(refused.status).toBe(400);
  expect(Object.keys(refused.body.error.detail)).toEqual(["metric"]);
  const created = await apiSend<{ id: number; periodic_task: number | null }>(page, "POST", "retraining-policies/", policy);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.periodic_task).not.toBeNull();
  // Run now (eager here: the retraining runs inside the request).
  const run = await apiSend<{ id: number; decision: string; reason: string }>(page, "POST", `retraining-policies/${created.body.id}/run/`);
  expect(run.status, JSON.stringify(run.body)).toBe(201);
  // The Demo project's snapshot has no test case: the challenger is kept, and the page says why.
  expect(run.body.decision).toBe("kept");
  await page.reload();
  const row = page.locator(`#retraining tr[data-retraining="${run.body.id}"]`);
  await expect(row).toContainText("kept");
  await expect(row).toContainText("no test cases to compare on");
  await expect(row).toContainText(/snapshot [0-9a-f]{8} \(\d+ cases\)/);
  await expect(page.locator("main")).not.toContainText("{");
  expect((await apiSend(page, "DELETE", `retraining-policies/${created.body.id}/`)).status).toBe(204);
});
