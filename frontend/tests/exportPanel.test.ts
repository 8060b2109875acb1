import { describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { ExportPanel, countsText, exportBody, type ExportChoices } from "../src/projects/exportPanel";

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status });
}

const project = { id: 1, name: "Demo", slug: "demo", description: "", created_at: "", role: "reviewer" } as never;
const job = { id: "j1", project: 1, kind: "export", status: "succeeded", progress: 1, message: "Done.", result: {}, error: "", created_by: "ana", created_at: "", started_at: "", finished_at: "", cancel_requested: false };
const finished = { id: 7, project: 1, status: "succeeded", progress: 1, job, formats: ["coco", "dicom_sr"], filters: {}, counts: { exams: 2, images: 1, findings: 3 }, archive_sha256: "ab".repeat(32) };

describe("export panel", () => {
  it("says the counts in words", () => {
    expect(countsText({ exams: 2, images: 1, findings: 3 })).toBe("2 exams, 1 image, 3 findings");
    expect(countsText(null)).toBe("0 exams, 0 images, 0 findings");
  });

  it("posts the formats and filters asked for and ends on a download link with the sha256", async () => {
    const fetchImpl = vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === "POST") return json(202, finished);
      if (url.startsWith("/api/dataset-exports/7/")) return json(200, finished);
      return json(200, { count: 1, next: null, previous: null, results: [finished] });
    });
    const panel = new ExportPanel(new Api("/api/", "t", fetchImpl as unknown as typeof fetch), project);
    document.body.replaceChildren(panel.el);
    const form = panel.el.querySelector<HTMLFormElement>("form")!;
    form.querySelector<HTMLInputElement>("input[value=csv]")!.checked = false;
    form.querySelector<HTMLInputElement>("input[value=dicom_sr]")!.checked = true;
    form.querySelector<HTMLSelectElement>("select[name=modality]")!.value = "MG";
    form.dispatchEvent(new Event("submit", { cancelable: true }));
    await vi.waitFor(() => expect(panel.el.querySelector("[data-testid=export-download]")).not.toBeNull());
    const [url, init] = fetchImpl.mock.calls.find(([, i]) => i?.method === "POST")!;
    expect(url).toBe("/api/dataset-exports/");
    expect(JSON.parse(String(init!.body))).toEqual({
      project: 1,
      formats: ["coco", "dicom_sr"],
      modality: "MG",
      label_status: "any",
      ground_truth: "any",
      reviewed_only: false,
    });
    const link = panel.el.querySelector<HTMLAnchorElement>("[data-testid=export-download]")!;
    expect(link.getAttribute("href")).toBe("/api/dataset-exports/7/download/");
    expect(panel.el.querySelector("[data-testid=export-result]")!.textContent).toContain("ab".repeat(32));
    expect(panel.el.querySelector("[data-testid=export-row]")!.textContent).toContain("Export 7: coco, dicom_sr, succeeded");
  });

  const choices: ExportChoices = { formats: ["coco"], modality: "", labelStatus: "any", groundTruth: "any", groundTruthReader: "", readers: [], reviewedOnly: false, site: "", dateFrom: "", dateTo: "" };

  it("leaves empty filters out of the body and names a reader only for the reader policy", () => {
    expect(exportBody(1, choices)).toEqual({ project: 1, formats: ["coco"], label_status: "any", ground_truth: "any", reviewed_only: false });
    expect(exportBody(1, { ...choices, groundTruthReader: "bo", readers: ["ana", "bo"], site: " North ", dateFrom: "2026-01-01", dateTo: "2026-06-30" })).toEqual({
      project: 1,
      formats: ["coco"],
      label_status: "any",
      ground_truth: "any",
      readers: ["ana", "bo"],
      reviewed_only: false,
      site: "North",
      date_from: "2026-01-01",
      date_to: "2026-06-30",
    });
    expect(exportBody(1, { ...choices, groundTruth: "reader", groundTruthReader: "bo" })).toMatchObject({ ground_truth: "reader", ground_truth_reader: "bo" });
  });

  it("refuses, in words, a form that cannot make an export", () => {
    expect(() => exportBody(1, { ...choices, formats: [] })).toThrow("Choose at least one format.");
    expect(() => exportBody(1, { ...choices, groundTruth: "reader" })).toThrow("Choose the reader whose reads are the ground truth.");
    expect(() => exportBody(1, { ...choices, dateFrom: "2026-02-01", dateTo: "2026-01-01" })).toThrow("The date range ends before it starts.");
  });

  it("offers the members as readers and as the ground-truth reader, and posts them", async () => {
    const fetchImpl = vi.fn(async (_url: string, init?: RequestInit) => json(init?.method === "POST" ? 400 : 200, init?.method === "POST" ? { error: { code: "invalid", message: "x" } } : { count: 0, next: null, previous: null, results: [] }));
    const panel = new ExportPanel(new Api("/api/", "t", fetchImpl as unknown as typeof fetch), project, ["ana", "bo"]);
    document.body.replaceChildren(panel.el);
    const form = panel.el.querySelector<HTMLFormElement>("form")!;
    const policy = form.querySelector<HTMLSelectElement>("select[name=ground_truth]")!;
    const readerField = form.querySelector<HTMLSelectElement>("select[name=ground_truth_reader]")!.closest("label")!;
    expect(readerField.hidden).toBe(true);
    policy.value = "reader";
    policy.dispatchEvent(new Event("change"));
    expect(readerField.hidden).toBe(false);
    // no reader chosen: nothing is sent and the page says why
    form.dispatchEvent(new Event("submit", { cancelable: true }));
    expect(fetchImpl.mock.calls.some(([, i]) => i?.method === "POST")).toBe(false);
    expect(panel.el.querySelector("[data-testid=export-result]")!.textContent).toBe("Choose the reader whose reads are the ground truth.");
    form.querySelector<HTMLSelectElement>("select[name=ground_truth_reader]")!.value = "bo";
    form.querySelector<HTMLInputElement>("input[name=readers][value=ana]")!.checked = true;
    form.dispatchEvent(new Event("submit", { cancelable: true }));
    await vi.waitFor(() => expect(fetchImpl.mock.calls.some(([, i]) => i?.method === "POST")).toBe(true));
    const [, init] = fetchImpl.mock.calls.find(([, i]) => i?.method === "POST")!;
    expect(JSON.parse(String(init!.body))).toMatchObject({ ground_truth: "reader", ground_truth_reader: "bo", readers: ["ana"] });
  });
});
