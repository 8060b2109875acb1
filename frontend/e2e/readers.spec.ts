/** The readers' side of the review loop in Chromium: a blind first read (the proposals withheld
 * by the server until it is submitted, then a final read), and two readers assigned from the
 * worklist who do not see each other's marks, whose disagreement a reviewer adjudicates, the
 * consensus then being what a snapshot's ground truth holds. */

import { expect, test, type Browser, type Page } from "@playwright/test";
import { apiGet, examImages, expectSaved, keepScreenshot, READER, SECOND, signIn } from "./helpers";

const BLIND = process.env.SENOLAB_E2E_BLIND ?? "e2e-blind";

interface FindingRow {
  id: number;
  birads: string;
  source: string;
  created_by: number | null;
}

async function signedIn(browser: Browser, user: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, user);
  return page;
}

/** A JSON write of the API with the page's session and CSRF token; the response as JSON. */
async function send(page: Page, method: "POST" | "PATCH", path: string, data: unknown, expected: number): Promise<unknown> {
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  const response = await page.request.fetch(`/api/${path}`, { method, data, headers: { "X-CSRFToken": csrf, Referer: page.url() } });
  expect(response.status(), `${method} /api/${path}: ${await response.text()}`).toBe(expected);
  return response.json();
}

async function mammograms(page: Page): Promise<number[]> {
  const exams = await apiGet<{ results: { id: number; modalities: string[] }[] }>(page, "exams/?modality=MG&page_size=100");
  return exams.results.filter((e) => e.modalities.includes("MG")).map((e) => e.id).sort((a, b) => a - b);
}

async function projectId(page: Page): Promise<number> {
  return (await apiGet<{ results: { id: number }[] }>(page, "projects/")).results[0]!.id;
}

async function mine(page: Page, exam: number): Promise<FindingRow[]> {
  return (await apiGet<{ results: FindingRow[] }>(page, `findings/?exam=${exam}&source=human&page_size=100`)).results;
}

test.afterAll(async ({ browser }) => {
  // Leave the Demo project as the other specs expect it.
  const owner = await signedIn(browser, READER);
  await send(owner, "PATCH", `projects/${await projectId(owner)}/`, { blind_first_read: false, private_reads: false }, 200);
});

test("a blind reader sees the proposals only after submitting a first read; both reads are kept", async ({ browser }, testInfo) => {
  test.setTimeout(180_000);
  const owner = await signedIn(browser, READER);
  const project = await projectId(owner);
  // The first mammogram (the ML spec's prediction, when it ran first, is on it; other specs use the others).
  const exam = (await mammograms(owner))[0]!;
  await send(owner, "PATCH", `projects/${project}/`, { blind_first_read: true }, 200);

  const reader = await signedIn(browser, BLIND);
  reader.on("dialog", (dialog) => void dialog.accept());
  // The server refuses the proposals before the first read.
  const refused = await reader.request.get(`/api/exams/${exam}/proposals/`);
  expect(refused.status()).toBe(403);
  expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("submit your own first read");

  await reader.goto(`/exams/${exam}/`);
  await expect(reader.getByTestId("viewer").locator("[data-testid=viewport][data-rendered=true]")).toHaveCount(4, { timeout: 60_000 });
  const reads = reader.getByTestId("reads");
  await expect(reads).toHaveAttribute("data-step", "first");
  await expect(reader.getByTestId("ai-status")).toContainText("submit your own first read");
  // The reader's own read: a finding labelled BI-RADS 4 by keys alone.
  await reader.keyboard.press("c");
  await reader.keyboard.press("4");
  await expectSaved(reader);
  await keepScreenshot(reader, testInfo, "blind-first-read");

  await reads.getByRole("button", { name: "Submit first read" }).click();
  await expect(reads).toHaveAttribute("data-step", "final");
  await expect(reader.getByTestId("ai-status")).not.toContainText("submit your own first read");
  expect((await reader.request.get(`/api/exams/${exam}/proposals/`)).status()).toBe(200);
  // Submitted once: a second submission is refused with a sentence.
  const again = (await send(reader, "POST", `worklist/${exam}/first-read/`, {}, 409)) as { error: { message: string } };
  expect(again.error.message).toContain("cannot be changed");

  // After the reveal the reader changes the BI-RADS to 5 and submits the final read.
  // (the reader's own finding: other specs may have left findings of other readers here)
  type SideBySide = { reads: { reader: string; first_read: { findings: FindingRow[] } | null; findings: FindingRow[]; status: string }[] };
  const submitted = await apiGet<SideBySide>(owner, `adjudication/${exam}/`);
  const finding = submitted.reads.find((r) => r.reader === BLIND)!.first_read!.findings[0]!;
  await reader.locator(`[data-testid=finding][data-finding-id="${finding.id}"]`).click();
  await reader.keyboard.press("5");
  await expectSaved(reader);
  await reads.getByRole("button", { name: "Submit final read" }).click();
  await expect(reads).toHaveAttribute("data-step", "done");

  // Both reads are stored: the first one as submitted (4), the current one final (5).
  const sideBySide = await apiGet<SideBySide>(owner, `adjudication/${exam}/`);
  const read = sideBySide.reads.find((r) => r.reader === BLIND)!;
  expect(read.first_read!.findings.map((f) => f.birads)).toEqual(["4"]);
  expect(read.findings.map((f) => f.birads)).toEqual(["5"]);
  expect(read.status).toBe("done");
});

test("two readers assigned from the worklist read privately; the adjudicated consensus is a snapshot's ground truth", async ({ browser }, testInfo) => {
  test.setTimeout(180_000);
  const owner = await signedIn(browser, READER);
  const project = await projectId(owner);
  const exam = (await mammograms(owner))[2]!;
  await send(owner, "PATCH", `projects/${project}/`, { blind_first_read: false, private_reads: true }, 200);

  // The owner ticks the exam in the worklist and puts both annotators on it.
  await owner.goto(`/?project=${project}`);
  await owner.locator(`[data-testid=worklist-row][data-exam-id="${exam}"] [data-testid=select-exam]`).check();
  await owner.getByRole("button", { name: "Assign readers…" }).click();
  const form = owner.getByTestId("assign-form");
  await form.getByLabel("how to assign").selectOption("readers");
  await form.getByLabel(SECOND).check();
  await form.getByLabel(BLIND).check();
  await form.getByRole("button", { name: "Assign" }).click();
  await expect(owner.getByTestId("assign-result")).toContainText("2 assignment(s) made");

  // Each reads the exam: a box and a BI-RADS far apart, then marks the read done.
  const first = [...(await examImages(owner, exam)).keys()].sort((a, b) => a - b)[0]!;
  const pages: Record<string, Page> = {};
  const own: Record<string, number> = {};
  for (const [user, birads, x] of [[SECOND, "2", 40], [BLIND, "5", 320]] as const) {
    const page = await signedIn(browser, user);
    pages[user] = page;
    const worklist = await apiGet<{ results: { exam: number; status: string }[] }>(page, `worklist/?project=${project}&page_size=500`);
    expect(worklist.results.find((r) => r.exam === exam)?.status).toBe("assigned");
    const body = { exam, birads, finding_type: "mass", marks: [{ image: first, kind: "box", geometry: { x, y: x, width: 200, height: 200 } }] };
    own[user] = ((await send(page, "POST", "findings/", body, 201)) as FindingRow).id;
    await send(page, "POST", `worklist/${exam}/final-read/`, {}, 201);
  }
  // Neither sees the other's finding: not from the API, not in the exam page's panel.
  for (const [user, other] of [[SECOND, BLIND], [BLIND, SECOND]] as const) {
    expect((await mine(pages[user]!, exam)).map((f) => f.id)).toEqual([own[user]]);
    expect((await pages[user]!.request.get(`/api/findings/${own[other]}/`)).status()).toBe(404);
  }
  const second = pages[SECOND]!;
  await second.goto(`/exams/${exam}/`);
  await expect(second.getByTestId("viewer").locator("[data-testid=viewport][data-rendered=true]")).toHaveCount(4, { timeout: 60_000 });
  await expect(second.locator(`[data-testid=finding][data-finding-id="${own[SECOND]}"]`)).toBeVisible();
  await expect(second.locator(`[data-testid=finding][data-finding-id="${own[BLIND]}"]`)).toHaveCount(0);

  // The owner adjudicates: the exam is in the queue, the reads side by side.
  await owner.goto(`/projects/${project}/adjudication/`);
  const row = owner.locator(`[data-testid=queue-row][data-exam-id="${exam}"]`);
  await expect(row).toContainText(`BI-RADS 5 (${BLIND}) vs 2 (${SECOND})`);
  await row.getByRole("button", { name: "Review" }).click();
  const examEl = owner.getByTestId("adjudication-exam");
  await expect(examEl.getByTestId("read-column")).toHaveCount(2);
  await examEl.getByLabel(`keep finding ${own[BLIND]} of ${BLIND}`).check();
  await examEl.getByTestId("consensus-form").getByLabel("birads").selectOption("5");
  await keepScreenshot(owner, testInfo, "adjudication");
  await examEl.getByRole("button", { name: "Record consensus" }).click();
  await expect(examEl.getByTestId("consensus-recorded")).toContainText("1 finding(s) kept");
  await expect(owner.locator(`[data-testid=queue-row][data-exam-id="${exam}"]`)).toHaveCount(0);

  // Closed: the reads are shared now, and the consensus is the snapshot's ground truth.
  expect((await mine(second, exam)).map((f) => f.id)).toEqual(expect.arrayContaining([own[SECOND], own[BLIND]]));
  const consensus = (await send(owner, "POST", "snapshots/", { project, ground_truth: "consensus" }, 201)) as { cases: { exam: number; labels: { birads?: string }; lesions: number }[] };
  expect(consensus.cases.map((c) => [c.exam, c.labels.birads, c.lesions])).toEqual([[exam, "5", 1]]);
  const bySecond = (await send(owner, "POST", "snapshots/", { project, ground_truth: "reader", ground_truth_reader: SECOND }, 201)) as { cases: { exam: number; labels: { birads?: string } }[] };
  expect(bySecond.cases.find((c) => c.exam === exam)?.labels.birads).toBe("2");

  // The agreement page shows the two readers' kappa matrix and offers the CSV.
  await owner.goto(`/projects/${project}/agreement/`);
  await expect(owner.getByTestId("kappa-birads")).toContainText(SECOND);
  await expect(owner.getByTestId("lesion-agreement")).toContainText(BLIND);
  // The blind read of the first test: BI-RADS 4 first, 5 final (one change up the scale).
  await expect(owner.getByTestId("blind-reads").locator("tr", { hasText: BLIND })).toContainText("1 / 0");
  const csv = await owner.request.get(`/api/agreement/?project=${project}&download=csv`);
  expect(csv.headers()["content-type"]).toContain("text/csv");
  expect(await csv.text()).toContain("birads_kappa_quadratic");
  await keepScreenshot(owner, testInfo, "agreement");
});
