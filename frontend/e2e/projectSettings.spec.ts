/** The projects page's review settings and the export's reader filters: the Demo project's
 * owner turns pre-annotation after ingest on, sets an adjudication rule and a rejection reason,
 * and finds them stored after a reload; then exports with one named reader's reads as the
 * ground truth. The settings are put back at the end: the specs share one server. */

import { expect, test } from "@playwright/test";
import { READER, apiGet, apiSend, examImages, signIn, type FindingJson, type ImageJson } from "./helpers";

interface ProjectJson {
  id: number;
  name: string;
  preannotate_on_ingest: boolean;
  adjudication_rules: Record<string, number>;
  rejection_reasons: string[];
}

test("an owner sets the review loop on the projects page and exports one reader's reads", async ({ page }) => {
  await signIn(page);
  const before = (await apiGet<{ results: ProjectJson[] }>(page, "projects/?ordering=name")).results.find((p) => p.name === "Demo")!;
  // one read of the owner's on the project's last exam, so that the reader's export holds an exam
  const exams = await apiGet<{ results: { id: number }[] }>(page, `exams/?project=${before.id}&ordering=-id`);
  let exam = 0;
  let image: ImageJson | undefined;
  for (const candidate of exams.results) {
    image = [...(await examImages(page, candidate.id)).values()].find((im) => im.modality === "MG");
    exam = candidate.id;
    if (image) break;
  }
  if (!image) throw new Error("the Demo project has no mammogram to read");
  const made = await apiSend<FindingJson>(page, "POST", "findings/", {
    exam,
    finding_type: "mass",
    laterality: image.laterality || "L",
    marks: [{ image: image.id, kind: "point", geometry: { x: image.columns / 2, y: image.rows / 2 } }],
  });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  try {
    await page.goto(`/projects/?project=${before.id}`);
    const settings = page.getByRole("form", { name: "Review settings" });
    await expect(settings).toBeVisible();
    await settings.getByLabel("Pre-annotate new exams after ingest").check();
    await settings.getByLabel("IoU at which two marks match").fill("0.45");
    const reasons = settings.getByLabel("Reasons for rejecting a proposal");
    await reasons.fill(`${await reasons.inputValue()}\n  Outside the breast  `);
    await settings.getByRole("button", { name: "Save review settings" }).click();
    await expect(page.getByTestId("review-settings-message")).toHaveText("Review settings saved.");

    // stored, and shown as stored after a reload
    const after = await apiGet<ProjectJson>(page, `projects/${before.id}/`);
    expect(after.preannotate_on_ingest).toBe(true);
    expect(after.adjudication_rules).toMatchObject({ iou_threshold: 0.45 });
    expect(after.rejection_reasons.at(-1)).toBe("Outside the breast");
    await page.reload();
    await expect(settings.getByLabel("Pre-annotate new exams after ingest")).toBeChecked();
    await expect(settings.getByLabel("IoU at which two marks match")).toHaveValue("0.45");

    // the export panel offers the members as the ground-truth reader
    const panel = page.getByTestId("export-panel");
    const form = panel.getByRole("form", { name: "Export a data set" });
    await form.getByRole("combobox", { name: "Ground truth", exact: true }).selectOption("reader");
    await form.getByRole("button", { name: "Start export" }).click();
    await expect(panel.getByTestId("export-result")).toHaveText("Choose the reader whose reads are the ground truth.");
    await form.getByRole("combobox", { name: "Ground-truth reader" }).selectOption(READER);
    await form.getByRole("button", { name: "Start export" }).click();
    await expect(panel.getByTestId("export-download")).toBeVisible({ timeout: 60_000 });
    const exports = await apiGet<{ results: { id: number; filters: Record<string, unknown>; status: string }[] }>(page, "dataset-exports/");
    expect(exports.results[0]!.status).toBe("succeeded");
    expect(exports.results[0]!.filters).toMatchObject({ ground_truth: "reader" });
    // it holds this reader's findings only (earlier specs may have left more of theirs), ours too
    type Held = { id: number; source: string; created_by: number | null };
    const detail = await apiGet<{ counts: Record<string, number>; findings: Held[] }>(page, `dataset-exports/${exports.results[0]!.id}/`);
    expect(detail.findings.map((f) => f.id)).toContain(made.body.id);
    expect(detail.findings.every((f) => f.source === "human" && f.created_by === made.body.created_by)).toBe(true);
    expect(detail.counts.findings).toBe(detail.findings.length);
  } finally {
    await apiSend(page, "DELETE", `findings/${made.body.id}/`, { version: made.body.version });
    await apiSend(page, "PATCH", `projects/${before.id}/`, {
      preannotate_on_ingest: before.preannotate_on_ingest,
      adjudication_rules: before.adjudication_rules,
      rejection_reasons: before.rejection_reasons,
    });
  }
});

test("an owner imports clinical records from a CSV file and sees each bad line of a refused one", async ({ page }) => {
  await signIn(page);
  const demo = (await apiGet<{ results: ProjectJson[] }>(page, "projects/?ordering=name")).results.find((p) => p.name === "Demo")!;
  const exams = await apiGet<{ results: { id: number; patient: number; patient_pseudonym: string; accession: string }[] }>(page, `exams/?project=${demo.id}&page_size=100`);
  // an exam the file can name alone: its accession, or its patient's only exam
  const exam = exams.results.find((e) => e.accession || exams.results.filter((o) => o.patient === e.patient).length === 1)!;
  const key = exam.accession ? `${exam.patient_pseudonym},${exam.accession}` : `${exam.patient_pseudonym},`;
  await page.goto(`/projects/?project=${demo.id}`);
  const panel = page.getByTestId("clinical-import");
  const result = panel.getByTestId("clinical-import-result");

  // a file with an unknown patient stores nothing and names its line
  await panel.getByLabel(/CSV file/).setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(`pseudonym,accession,age_at_exam\n${key},47\nNO-SUCH-PATIENT,,50\n`) });
  await panel.getByRole("button", { name: "Import records" }).click();
  await expect(result.getByRole("alert")).toContainText("Nothing was stored");
  await expect(result.locator(".bad-lines li")).toHaveCount(1);
  await expect(result.locator(".bad-lines li")).toContainText("Line 3:");
  const untouched = await page.request.get(`/api/exams/${exam.id}/clinical-record/`);
  if (untouched.status() === 200) expect((await untouched.json()).age_at_exam).not.toBe(47);

  // the good file is stored and counted
  await panel.getByLabel(/CSV file/).setInputFiles({ name: "good.csv", mimeType: "text/csv", buffer: Buffer.from(`pseudonym,accession,age_at_exam\n${key},47\n`) });
  await panel.getByRole("button", { name: "Import records" }).click();
  await expect(result).toHaveText(/^1 row read: /);
  const record = await apiGet<{ age_at_exam: number }>(page, `exams/${exam.id}/clinical-record/`);
  expect(record.age_at_exam).toBe(47);
});
