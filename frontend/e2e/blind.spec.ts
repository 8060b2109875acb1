/** Blind reading: the owner turns the project's hide_reference on; an annotator then sees no
 * imported ground truth in the worklist, the findings panel or the viewer, and the API the page
 * reads sends none of it (checked on the responses the page itself received, and by asking). */

import { expect, test, type Browser, type Page, type Response } from "@playwright/test";
import { apiGet, READER, signIn } from "./helpers";

const BLIND = process.env.SENOLAB_E2E_BLIND ?? "e2e-blind";
// Reference marks are drawn dashed (viewer/markLayer.ts); a reader's own are solid.
const DASHED = '[stroke-dasharray="6,4"]';

interface ProjectJson {
  id: number;
  name: string;
  hide_reference: boolean;
}

interface FindingRow {
  id: number;
  exam: number;
  source: string;
  marks: { kind: string }[];
}

interface WorklistRow {
  exam: number;
  birads: string;
  density: string;
  description: string;
}

async function signedIn(browser: Browser, user: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, user);
  return page;
}

async function setBlind(page: Page, project: number, on: boolean): Promise<void> {
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  const response = await page.request.patch(`/api/projects/${project}/`, {
    data: { hide_reference: on },
    headers: { "X-CSRFToken": csrf, Referer: page.url() },
  });
  expect(response.status(), await response.text()).toBe(200);
  expect(((await response.json()) as ProjectJson).hide_reference).toBe(on);
}

async function openExam(page: Page, exam: number): Promise<Response[]> {
  const seen: Response[] = [];
  const listen = (r: Response) => {
    if (/\/api\/(findings|exam-labels|exams)\//.test(r.url()) && r.request().method() === "GET") seen.push(r);
  };
  page.on("response", listen);
  await page.goto(`/exams/${exam}/`);
  await expect(page.getByTestId("viewer").locator("[data-testid=viewport][data-rendered=true]")).toHaveCount(4, { timeout: 60_000 });
  await expect(page.getByTestId("save-status")).toHaveAttribute("data-state", "saved", { timeout: 20_000 });
  page.off("response", listen);
  return seen;
}

test("an annotator of a blind-reading project gets no reference in the worklist, panel, viewer or API", async ({ browser }) => {
  const owner = await signedIn(browser, READER);
  const project = (await apiGet<{ results: ProjectJson[] }>(owner, "projects/")).results[0]!;
  // An exam with reference marks drawn as shapes (the demo's mammograms have ellipses).
  const reference = (await apiGet<{ results: FindingRow[] }>(owner, `findings/?project=${project.id}&source=reference&page_size=500`)).results;
  const drawn = reference.find((f) => f.marks.some((m) => m.kind !== "mask"));
  expect(drawn, "the Demo project has reference findings with shapes").toBeDefined();
  const exam = drawn!.exam;

  // Before: the owner sees the reference in the worklist, the panel and the viewer.
  const ownerRow = (await apiGet<{ results: WorklistRow[] }>(owner, `worklist/?project=${project.id}&page_size=500`)).results.find((r) => r.exam === exam);
  expect(ownerRow?.birads, "the reference BI-RADS shows in the owner's worklist").not.toBe("");
  await openExam(owner, exam);
  await expect(owner.getByTestId("findings").locator(".tag-ref").first()).toBeVisible();
  await expect(owner.getByTestId("viewer").locator(DASHED).first()).toBeAttached({ timeout: 20_000 });
  // The owner may read blind too: the panel's Reference toggle hides it in the panel and in the
  // viewer (no dashed reference mark drawn), and brings both back.
  const toggle = owner.getByTestId("show-reference").locator("input");
  await toggle.uncheck();
  await expect(owner.getByTestId("findings").locator(".tag-ref")).toHaveCount(0);
  await expect(owner.getByTestId("viewer").locator(DASHED)).toHaveCount(0, { timeout: 20_000 });
  await toggle.check();
  await expect(owner.getByTestId("findings").locator(".tag-ref").first()).toBeVisible();
  await expect(owner.getByTestId("viewer").locator(DASHED).first()).toBeAttached({ timeout: 20_000 });

  await setBlind(owner, project.id, true);
  try {
    const reader = await signedIn(browser, BLIND);
    // The worklist: no reference BI-RADS or density in the row, in the page or in its API.
    await reader.goto("/");
    const row = reader.locator(`[data-testid=worklist-row][data-exam-id="${exam}"]`);
    await expect(row).toBeVisible();
    await expect(row.locator(".birads")).toHaveCount(0);
    const listed = (await apiGet<{ results: WorklistRow[] }>(reader, `worklist/?project=${project.id}&page_size=500`)).results;
    expect(listed.find((r) => r.exam === exam)).toMatchObject({ birads: "", density: "" });

    // The exam page: the responses it loaded carry no reference ...
    const responses = await openExam(reader, exam);
    const findingsResponse = responses.find((r) => new URL(r.url()).pathname === "/api/findings/");
    const labelsResponse = responses.find((r) => new URL(r.url()).pathname === "/api/exam-labels/");
    expect(findingsResponse && labelsResponse, "the page read findings and labels").toBeTruthy();
    for (const response of responses) {
      const text = await response.text();
      expect(text, response.url()).not.toContain('"source":"reference"');
      expect(text, response.url()).not.toContain('"source": "reference"');
    }
    // ... and neither does asking the API directly, even by the reference finding's id.
    const mine = await apiGet<{ results: FindingRow[] }>(reader, `findings/?exam=${exam}&source=reference`);
    expect(mine.results).toEqual([]);
    expect((await reader.request.get(`/api/findings/${drawn!.id}/`)).status()).toBe(404);
    const labels = await apiGet<{ source: string }[]>(reader, `exam-labels/?exam=${exam}`);
    expect(labels.filter((l) => l.source === "reference")).toEqual([]);

    // The panel lists no reference finding or label and offers no toggle; the viewer draws no
    // reference mark.
    const panel = reader.getByTestId("findings");
    await expect(panel.locator(".tag-ref")).toHaveCount(0);
    await expect(panel.locator(".reference-labels")).toHaveCount(0);
    await expect(panel.getByTestId("show-reference")).toBeHidden();
    await expect(reader.getByTestId("viewer").locator(DASHED)).toHaveCount(0);
    await reader.context().close();
  } finally {
    await setBlind(owner, project.id, false);
    await owner.context().close();
  }
});
