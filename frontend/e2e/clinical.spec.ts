/** The clinical record beside the images: a reader opens an exam, sees its record, edits the age
 * and a field of the project's own clinical schema, saves, and a reload shows it; when a second
 * reader saves on the version both opened, the server answers 409 and the panel shows the
 * conflict, mine against theirs, until the reader chooses. */

import { expect, test, type Browser, type Page } from "@playwright/test";
import { apiGet, apiSend, keepScreenshot, SECOND, signIn } from "./helpers";

interface RecordJson {
  age_at_exam: number | null;
  fields: Record<string, unknown>;
  updated_at: string;
}

const SCHEMA = { grade: { type: "choice", choices: ["1", "2", "3"] }, tumour_mm: { type: "number", minimum: 0 } };

async function openExam(browser: Browser, exam: number, user?: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, user);
  await page.goto(`/exams/${exam}/`);
  await expect(page.getByTestId("clinical")).toBeVisible({ timeout: 60_000 });
  return page;
}

async function expand(page: Page) {
  const panel = page.getByTestId("clinical");
  if (!(await panel.evaluate((el) => (el as HTMLDetailsElement).open))) await panel.locator("summary").click();
  await expect(panel.locator("input[name=age_at_exam]")).toBeVisible();
  return panel;
}

test("a reader edits the clinical record beside the images and a stale save meets the conflict", async ({ browser }, testInfo) => {
  // Given the Demo project with its own clinical fields and a mammogram with a record (the
  // Demo loader records each mammogram's age).
  const setup = await browser.newContext();
  const admin = await setup.newPage();
  await signIn(admin);
  const exams = await apiGet<{ results: { id: number; modalities: string[]; project: number }[] }>(admin, "exams/?page_size=100");
  const mg = exams.results.filter((e) => e.modalities.includes("MG")).sort((a, b) => a.id - b.id);
  const exam = (mg[2] ?? mg[0])!;
  const project = await apiGet<{ clinical_schema: Record<string, unknown> | null }>(admin, `projects/${exam.project}/`);
  const patched = await apiSend(admin, "PATCH", `projects/${exam.project}/`, { clinical_schema: { ...(project.clinical_schema ?? {}), ...SCHEMA } });
  expect(patched.status).toBe(200);
  const before = await apiGet<RecordJson>(admin, `exams/${exam.id}/clinical-record/`);
  await setup.close();

  // The reader sees the record in the panel's summary and form.
  const reader = await openExam(browser, exam.id);
  const panel = reader.getByTestId("clinical");
  await expect(panel.getByTestId("clinical-summary")).toContainText(`${before.age_at_exam} y`);
  await expand(reader);
  await expect(panel.locator("input[name=age_at_exam]")).toHaveValue(String(before.age_at_exam));

  // Edits the age and the project's grade, saves; a reload shows both.
  const age = (before.age_at_exam ?? 50) + 1;
  await panel.locator("input[name=age_at_exam]").fill(String(age));
  await panel.locator("select[name='field:grade']").selectOption("3");
  await expect(panel.getByTestId("clinical-status")).toHaveAttribute("data-state", "dirty");
  const save = reader.waitForResponse((r) => r.url().includes(`/api/exams/${exam.id}/clinical-record/`) && r.request().method() === "PUT");
  await panel.getByRole("button", { name: "Save record" }).click();
  expect((await save).status()).toBe(200);
  await expect(panel.getByTestId("clinical-status")).toHaveAttribute("data-state", "saved");
  await reader.reload();
  await expect(panel.getByTestId("clinical-summary")).toContainText(`${age} y`);
  await expect(panel.getByTestId("clinical-summary")).toContainText("grade: 3");
  await expand(reader);
  await expect(panel.locator("input[name=age_at_exam]")).toHaveValue(String(age));
  await expect(panel.locator("select[name='field:grade']")).toHaveValue("3");

  // A second reader opens the same record; the first saves again; the second saves on the
  // version both opened and meets the conflict, with nothing overwritten.
  const second = await openExam(browser, exam.id, SECOND);
  const panelB = await expand(second);
  await expect(panelB.locator("input[name=age_at_exam]")).toHaveValue(String(age));
  await panel.locator("input[name=age_at_exam]").fill(String(age + 1));
  await panel.getByRole("button", { name: "Save record" }).click();
  await expect(panel.getByTestId("clinical-status")).toHaveAttribute("data-state", "saved");
  await expect(panel.getByTestId("clinical-summary")).toContainText(`${age + 1} y`);

  const stale = second.waitForResponse((r) => r.url().includes(`/api/exams/${exam.id}/clinical-record/`) && r.request().method() === "PUT");
  await panelB.locator("input[name=age_at_exam]").fill(String(age + 5));
  await panelB.getByRole("button", { name: "Save record" }).click();
  expect((await stale).status()).toBe(409);
  const conflict = panelB.getByTestId("clinical-conflict");
  await expect(conflict).toContainText("changed by someone else");
  await expect(panelB.getByTestId("clinical-status")).toHaveAttribute("data-state", "conflict");
  const ageRow = conflict.locator("tr", { has: second.locator("th", { hasText: /^Age$/ }) });
  await expect(ageRow.locator("[data-side=mine]")).toHaveText(String(age + 5));
  await expect(ageRow.locator("[data-side=theirs]")).toHaveText(String(age + 1));
  expect((await apiGet<RecordJson>(second, `exams/${exam.id}/clinical-record/`)).age_at_exam).toBe(age + 1);
  await keepScreenshot(second, testInfo, "clinical-conflict");

  // Keeping mine saves it on top of theirs (their grade stays).
  await conflict.getByRole("button", { name: "Keep mine" }).click();
  await expect(panelB.getByTestId("clinical-status")).toHaveAttribute("data-state", "saved");
  await expect(conflict).toBeHidden();
  const stored = await apiGet<RecordJson>(second, `exams/${exam.id}/clinical-record/`);
  expect(stored.age_at_exam).toBe(age + 5);
  expect(stored.fields).toMatchObject({ grade: "3" });
  await reader.context().close();
  await second.context().close();
});
