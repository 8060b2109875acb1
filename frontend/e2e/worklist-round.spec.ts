/** Active learning from the browser: with an active model in the "Rounds" project (the Demo's
 * mammograms, read by nobody: e2e/server.py makes it for this spec, with two members of their
 * own, since the other specs read and assign the Demo's exams), a round started from the project's active-learning page shows
 * its Job's progress bar, then its picks with score, rank and why; the worklist's "Next exam"
 * opens the rank-1 pick and the next reader gets rank 2. */

import { expect, test, type Page } from "@playwright/test";
import { apiGet, keepScreenshot, signIn } from "./helpers";

// The "Rounds" project's owner and its other reader (e2e/server.py).
const OWNER = "e2e-rounds";
const SECOND = "e2e-rounds-second";

interface RoundJson {
  id: number;
  state: string;
  picks: { exam: number; score: number; rank: number }[];
  job: { status: string } | null;
}

async function send(page: Page, method: string, path: string, data?: unknown): Promise<unknown> {
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  // A training runs inside its request (eager Celery): allow it the time a loaded machine needs.
  const response = await page.request.fetch(`/api/${path}`, { method, data, timeout: 180_000, headers: { "X-CSRFToken": csrf, Referer: page.url() } });
  expect(response.ok(), `${method} /api/${path}: ${await response.text()}`).toBeTruthy();
  return response.json();
}

test("a round started from the project page leads the worklist with its picks in rank order", async ({ page, browser }, testInfo) => {
  test.setTimeout(300_000);
  await signIn(page, OWNER);
  const projects = (await apiGet<{ results: { id: number; name: string }[] }>(page, "projects/")).results;
  const project = projects.find((p) => p.name === "Rounds")!.id;
  // Given an active classification model (one epoch of a small recipe, trained in the request)
  const run = (await send(page, "POST", "training-runs/", { project, recipe: "mias-density", epochs: 1, ground_truth: "any" })) as { model_version: number | null };
  expect(run.model_version, "the training registered a version").not.toBeNull();
  await send(page, "POST", `model-versions/${run.model_version}/activate/`);

  // When a reviewer starts an entropy round of 3 from the active-learning page
  await page.goto(`/ml/projects/${project}/rounds/`);
  const form = page.getByRole("form", { name: "Start a round" });
  await form.getByLabel("Strategy").selectOption("entropy");
  await form.getByLabel("Budget (exams)").fill("3");
  await form.getByRole("button", { name: "Start a round" }).click();
  const area = page.locator("section", { has: form });
  await expect(area.getByTestId("job-progress")).toBeVisible();
  await expect(area.getByTestId("job-result")).toContainText("is open", { timeout: 200_000 });
  await expect(area.getByRole("progressbar", { name: "Round progress" })).toHaveAttribute("aria-valuenow", "100");

  // Then the open round lists three picks, rank 1 first, each with its score and why
  const rows = page.locator("#picks tbody tr");
  await expect(rows).toHaveCount(3);
  await expect(rows.first()).toContainText("the most uncertain exam");
  await expect(page.getByTestId("round-summary")).toContainText("entropy");
  const open = (await apiGet<{ results: RoundJson[] }>(page, `active-rounds/?project=${project}&state=open`)).results[0]!;
  const ranked = open.picks.map((p) => p.exam);
  await expect(rows.first()).toHaveAttribute("data-exam", String(ranked[0]));
  await keepScreenshot(page, testInfo, "active-round");

  // And the worklist's next exam is the rank-1 pick; another reader's next is rank 2
  await page.goto(`/?project=${project}`);
  await page.getByTestId("next-exam").click();
  await expect(page).toHaveURL(new RegExp(`/exams/${ranked[0]}/`));
  const other = await browser.newPage();
  await signIn(other, SECOND);
  const second = (await send(other, "POST", `worklist/next/?project=${project}`)) as { exam: number };
  expect(second.exam).toBe(ranked[1]);
  await other.close();

  // Leave the project with no open round
  await send(page, "POST", `active-rounds/${open.id}/close/`);
});
