/** Two readers edit the same finding: the second save meets HTTP 409, the conflict dialog shows
 * both versions, and keeping mine saves it on top of theirs while theirs stays in the history. */

import { expect, test, type Browser, type Page } from "@playwright/test";
import { apiGet, expectSaved, humanFindings, READER, SECOND, signIn } from "./helpers";

interface VersionJson {
  version: number;
  author_name: string | null;
  snapshot: { birads: string; note: string };
}

async function openAs(browser: Browser, user: string, exam: number): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, user);
  await page.goto(`/exams/${exam}/`);
  await expect(page.getByTestId("viewer").locator("[data-testid=viewport][data-rendered=true]")).toHaveCount(4, { timeout: 60_000 });
  await expectSaved(page);
  return page;
}

test("when two readers change the same finding, the 409 keeps both versions and the reader chooses", async ({ browser }) => {
  const reader = await openAs(browser, READER, await conflictExam(browser));
  const exam = Number(new URL(reader.url()).pathname.split("/")[2]);
  const before = new Set((await humanFindings(reader, exam)).map((f) => f.id));

  // The first reader makes a finding, BI-RADS 3, saved.
  const panelA = reader.getByTestId("findings");
  await panelA.getByRole("button", { name: "+ New" }).click();
  await panelA.locator("select[name=birads]").selectOption("3");
  await expectSaved(reader);
  const created = (await humanFindings(reader, exam)).filter((f) => !before.has(f.id));
  expect(created).toHaveLength(1);
  const finding = created[0]!;
  expect(finding.birads).toBe("3");

  // The second reader opens the exam and sees it at that version.
  const second = await openAs(browser, SECOND, exam);
  const panelB = second.getByTestId("findings");
  await panelB.locator(`[data-finding-id="${finding.id}"]`).click();
  await expect(panelB.locator("select[name=birads]")).toHaveValue("3");

  // The first reader saves BI-RADS 4 ...
  await panelA.locator("select[name=birads]").selectOption("4");
  await expectSaved(reader);
  // ... then the second, who still has the version before it on screen, saves BI-RADS 5.
  const conflictSave = second.waitForResponse((r) => r.url().includes(`/api/findings/${finding.id}/`) && r.request().method() === "PATCH");
  await panelB.locator("select[name=birads]").selectOption("5");
  expect((await conflictSave).status()).toBe(409);
  await expect(second.getByTestId("save-status")).toHaveAttribute("data-state", "conflict");
  const dialog = second.getByTestId("conflict");
  await expect(dialog).toBeVisible();
  const row = (side: string, label: string) => dialog.getByTestId(side).locator("dt", { hasText: label }).locator("xpath=following-sibling::dd[1]");
  await expect(row("conflict-mine", "BI-RADS")).toHaveText("5");
  await expect(row("conflict-theirs", "BI-RADS")).toHaveText("4");
  await expect(row("conflict-mine", "BI-RADS")).toHaveClass(/differs/);
  await expect(dialog.getByTestId("conflict-theirs")).toContainText(`version ${finding.version + 1}`);
  // Nothing was overwritten while the reader decides.
  expect((await apiGet<{ birads: string }>(second, `findings/${finding.id}/`)).birads).toBe("4");

  await dialog.getByRole("button", { name: "Keep mine" }).click();
  await expect(dialog).toBeHidden();
  await expectSaved(second);
  const stored = await apiGet<{ birads: string; version: number }>(second, `findings/${finding.id}/`);
  expect(stored).toMatchObject({ birads: "5", version: finding.version + 2 });

  // Both versions stay in the finding's history, each with its author.
  const history = await apiGet<{ results: VersionJson[] }>(second, `findings/${finding.id}/versions/`);
  const byVersion = new Map(history.results.map((v) => [v.version, v]));
  expect(byVersion.get(finding.version + 1)).toMatchObject({ author_name: READER, snapshot: { birads: "4" } });
  expect(byVersion.get(finding.version + 2)).toMatchObject({ author_name: SECOND, snapshot: { birads: "5" } });

  // The first reader sees the kept version after a reload.
  await reader.reload();
  await panelA.locator(`[data-finding-id="${finding.id}"]`).click();
  await expect(panelA.locator("select[name=birads]")).toHaveValue("5");
  await reader.context().close();
  await second.context().close();
});

/** A mammogram of the Demo project other specs leave alone (the second one). */
async function conflictExam(browser: Browser): Promise<number> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);
  const exams = await apiGet<{ results: { id: number; modalities: string[] }[] }>(page, "exams/?page_size=100");
  const mg = exams.results.filter((e) => e.modalities.includes("MG")).map((e) => e.id).sort((a, b) => a - b);
  await context.close();
  expect(mg.length).toBeGreaterThanOrEqual(3);
  return mg[1]!;
}
