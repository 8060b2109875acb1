/** The export panel of the projects page: a reviewer or owner picks formats and a filter,
 * starts a data set export, sees its progress bar end, and downloads the zip whose sha256 the
 * page shows. The e2e server runs Celery eagerly: the export runs inside the POST. */

import { expect, test } from "@playwright/test";
import { apiGet, signIn } from "./helpers";

interface ExportJson {
  id: number;
  status: string;
  formats: string[];
  filters: { label_status?: string };
  archive_sha256: string;
  counts: { images?: number };
}

test("an owner exports the Demo project from the projects page and downloads the zip", async ({ page }) => {
  await signIn(page);
  await page.goto("/projects/");
  const panel = page.getByTestId("export-panel");
  await expect(panel).toBeVisible();
  const form = panel.getByRole("form", { name: "Export a data set" });
  await form.getByLabel("MONAI datalist").check();
  await form.getByLabel("Label status").selectOption("labelled");
  await form.getByRole("button", { name: "Start export" }).click();

  await expect(panel.getByTestId("job-progress")).toBeVisible();
  const link = panel.getByTestId("export-download");
  await expect(link).toBeVisible({ timeout: 60_000 });
  await expect(panel.getByTestId("job-progress")).toHaveAttribute("data-status", "succeeded");
  await expect(panel.getByRole("progressbar", { name: "Export progress" })).toHaveAttribute("aria-valuenow", "100");

  // The API holds the export as asked, and the link serves the zip whose sha256 the page shows
  const exports = await apiGet<{ results: ExportJson[] }>(page, "dataset-exports/");
  const made = exports.results[0]!;
  expect(made.status).toBe("succeeded");
  expect(made.formats).toEqual(["coco", "csv", "monai"]);
  expect(made.filters.label_status).toBe("labelled");
  expect(made.counts.images).toBeGreaterThan(0);
  await expect(panel.getByTestId("export-result")).toContainText(made.archive_sha256);
  const href = (await link.getAttribute("href"))!;
  const response = await page.request.get(href);
  expect(response.status()).toBe(200);
  expect((await response.body()).subarray(0, 2).toString()).toBe("PK");
  // the browser hashes what the link serves (127.0.0.1 is a secure context: crypto.subtle)
  const digest = await page.evaluate(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  }, href);
  expect(digest).toBe(made.archive_sha256);
  await expect(panel.getByTestId("export-row").first()).toHaveAttribute("data-status", "succeeded");
});
