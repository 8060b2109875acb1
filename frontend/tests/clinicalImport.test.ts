import { describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { ClinicalImportPanel, badLines, importSummary } from "../src/projects/clinicalImport";

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status });
}

function choose(panel: ClinicalImportPanel, text: string): void {
  const input = panel.el.querySelector<HTMLInputElement>("input[type=file]")!;
  const file = new File([text], "records.csv", { type: "text/csv" });
  Object.defineProperty(input, "files", { value: [file], configurable: true });
}

describe("clinical record import", () => {
  it("says the counts in words", () => {
    expect(importSummary({ rows: 12, created: 3, updated: 9 })).toBe("12 rows read: 3 records created, 9 updated.");
    expect(importSummary({ rows: 1, created: 1, updated: 0 })).toBe("1 row read: 1 record created, 0 updated.");
  });

  it("reads the bad lines of a refusal and ignores a detail of another shape", () => {
    expect(badLines({ rows: [{ line: 3, reason: "unknown pseudonym 'X'" }, { line: "4" }] })).toEqual([{ line: 3, reason: "unknown pseudonym 'X'" }]);
    expect(badLines({ file: ["Attach a CSV file."] })).toEqual([]);
    expect(badLines(undefined)).toEqual([]);
  });

  it("posts the chosen file as a multipart form with the CSRF token and shows the counts", async () => {
    const fetchImpl = vi.fn(async () => json(200, { rows: 2, created: 1, updated: 1 }));
    const panel = new ClinicalImportPanel(new Api("/api/", "tok", fetchImpl as unknown as typeof fetch), 4);
    document.body.replaceChildren(panel.el);
    choose(panel, "pseudonym,age_at_exam\nSNL-1,52\nSNL-2,61\n");
    panel.el.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await vi.waitFor(() => expect(panel.el.querySelector("[data-testid=clinical-import-result]")!.textContent).toBe("2 rows read: 1 record created, 1 updated."));
    const [url, init] = fetchImpl.mock.calls[0]! as unknown as [string, RequestInit];
    expect(url).toBe("/api/projects/4/clinical-records/import/");
    expect(init.method).toBe("POST");
    expect((init.headers as Record<string, string>)["X-CSRFToken"]).toBe("tok");
    expect((init.headers as Record<string, string>)["Content-Type"]).toBeUndefined();
    const sent = (init.body as FormData).get("file") as File;
    expect(sent.name).toBe("records.csv");
    expect(sent.size).toBe("pseudonym,age_at_exam\nSNL-1,52\nSNL-2,61\n".length);
  });

  it("lists each bad line of a refused file", async () => {
    const refusal = {
      error: {
        code: "invalid",
        message: "Nothing was stored: 2 rows have problems.",
        detail: { rows: [{ line: 2, reason: "unknown pseudonym 'SNL-9'" }, { line: 4, reason: "age_at_exam: not a whole number" }] },
      },
    };
    const fetchImpl = vi.fn(async () => json(400, refusal));
    const panel = new ClinicalImportPanel(new Api("/api/", "tok", fetchImpl as unknown as typeof fetch), 4);
    choose(panel, "pseudonym\nSNL-9\n");
    panel.el.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await vi.waitFor(() => expect(panel.el.querySelectorAll(".bad-lines li")).toHaveLength(2));
    expect(panel.el.querySelector("[role=alert]")!.textContent).toBe("Nothing was stored: 2 rows have problems.");
    expect([...panel.el.querySelectorAll(".bad-lines li")].map((li) => li.textContent)).toEqual(["Line 2: unknown pseudonym 'SNL-9'", "Line 4: age_at_exam: not a whole number"]);
  });

  it("asks for a file before sending anything", () => {
    const fetchImpl = vi.fn();
    const panel = new ClinicalImportPanel(new Api("/api/", "tok", fetchImpl as unknown as typeof fetch), 4);
    panel.el.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    expect(fetchImpl).not.toHaveBeenCalled();
    expect(panel.el.querySelector("[data-testid=clinical-import-result]")!.textContent).toBe("Choose a CSV file first.");
  });
});
