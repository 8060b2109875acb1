import { describe, expect, it, vi } from "vitest";
import { Api } from "../../src/api";
import { ClinicalPanel, parseField, summarize, valuesOf, type ClinicalRecord, type ClinicalSchema } from "../../src/clinical/panel";

const SCHEMA: ClinicalSchema = {
  grade: { type: "choice", choices: ["1", "2", "3"] },
  tumour_mm: { type: "number", minimum: 0 },
  palpable: { type: "bool" },
};

function record(over: Partial<ClinicalRecord> = {}): ClinicalRecord {
  return {
    id: 1,
    exam: 7,
    patient: 3,
    age_at_exam: 57,
    breast_density: "C",
    risk_factors: ["family_history"],
    biopsy_outcome: "benign",
    receptor_status: { ER: "positive" },
    fields: { grade: "2" },
    updated_at: "2026-01-01T10:00:00.000000Z",
    ...over,
  };
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status });
}

function fakeApi(answers: Response[]) {
  const fetchImpl = vi.fn(async () => answers.shift() ?? reply(500, {}));
  return { api: new Api("/api/", "tok", fetchImpl as unknown as typeof fetch), fetchImpl };
}

function field(panel: ClinicalPanel, name: string): HTMLInputElement | HTMLSelectElement {
  const el = panel.el.querySelector<HTMLInputElement | HTMLSelectElement>(`[name="${name}"]`);
  if (!el) throw new Error(`no field ${name}`);
  return el;
}

function sent(fetchImpl: ReturnType<typeof vi.fn>, call: number): Record<string, unknown> {
  const [, init] = fetchImpl.mock.calls[call] as unknown as [string, RequestInit];
  return JSON.parse(String(init.body)) as Record<string, unknown>;
}

describe("clinical record values", () => {
  it("summarises what is recorded and says so when nothing is", () => {
    expect(summarize(valuesOf(record()), SCHEMA)).toBe("57 y · density C · benign · ER positive · family history · grade: 2");
    expect(summarize(valuesOf(null))).toBe("nothing recorded");
  });

  it("reads a project field as the type its schema declares", () => {
    expect(parseField({ type: "number" }, " 12.5 ")).toBe(12.5);
    expect(parseField({ type: "integer" }, "3")).toBe(3);
    expect(parseField({ type: "bool" }, "no")).toBe(false);
    expect(parseField({ type: "choice", choices: ["1"] }, "1")).toBe("1");
    expect(parseField({ type: "text" }, "   ")).toBeUndefined();
  });
});

describe("ClinicalPanel", () => {
  it("shows the record in its form, the project's fields included", () => {
    const { api } = fakeApi([]);
    const panel = new ClinicalPanel(api, 7, record(), SCHEMA, true);
    expect(field(panel, "age_at_exam").value).toBe("57");
    expect(field(panel, "breast_density").value).toBe("C");
    expect(field(panel, "ER").value).toBe("positive");
    expect(field(panel, "field:grade").value).toBe("2");
    expect(field(panel, "field:tumour_mm").value).toBe("");
    expect(panel.el.querySelector("[data-testid=clinical-summary]")?.textContent).toContain("57 y");
  });

  it("saves the form with the updated_at it read", async () => {
    const saved = record({ age_at_exam: 58, fields: { grade: "2", tumour_mm: 9 }, updated_at: "2026-01-01T11:00:00Z" });
    const { api, fetchImpl } = fakeApi([reply(200, saved)]);
    const panel = new ClinicalPanel(api, 7, record(), SCHEMA, true);
    field(panel, "age_at_exam").value = "58";
    field(panel, "field:tumour_mm").value = "9";
    field(panel, "field:tumour_mm").dispatchEvent(new Event("input", { bubbles: true }));
    expect(panel.status).toBe("dirty");
    await panel.save();
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/exams/7/clinical-record/");
    expect(init.method).toBe("PUT");
    expect(sent(fetchImpl, 0)).toMatchObject({
      age_at_exam: 58,
      breast_density: "C",
      risk_factors: ["family_history"],
      receptor_status: { ER: "positive" },
      fields: { grade: "2", tumour_mm: 9 },
      updated_at: "2026-01-01T10:00:00.000000Z",
    });
    expect(panel.status).toBe("saved");
    expect(panel.current?.updated_at).toBe(saved.updated_at);
  });

  it("a new record is sent with no updated_at", async () => {
    const { api, fetchImpl } = fakeApi([reply(200, record({ age_at_exam: 44 }))]);
    const panel = new ClinicalPanel(api, 7, null, {}, true);
    expect(panel.status).toBe("empty");
    field(panel, "age_at_exam").value = "44";
    await panel.save();
    expect(sent(fetchImpl, 0)).toMatchObject({ age_at_exam: 44, updated_at: null });
  });

  it("after a 409 shows mine and theirs; keep mine saves on top of theirs", async () => {
    const theirs = record({ age_at_exam: 60, updated_at: "2026-01-01T12:00:00Z" });
    const conflict = { error: { code: "conflict", message: "This clinical record was changed by someone else.", detail: { current: theirs } } };
    const { api, fetchImpl } = fakeApi([reply(409, conflict), reply(200, record({ age_at_exam: 59, updated_at: "2026-01-01T12:01:00Z" }))]);
    const panel = new ClinicalPanel(api, 7, record(), SCHEMA, true);
    field(panel, "age_at_exam").value = "59";
    await panel.save();
    expect(panel.status).toBe("conflict");
    const box = panel.el.querySelector("[data-testid=clinical-conflict]");
    expect(box?.textContent).toContain("changed by someone else");
    const age = [...(box?.querySelectorAll("tr") ?? [])].find((tr) => tr.querySelector("th")?.textContent === "Age");
    expect(age?.className).toBe("differs");
    expect(age?.querySelector("[data-side=mine]")?.textContent).toBe("59");
    expect(age?.querySelector("[data-side=theirs]")?.textContent).toBe("60");
    await panel.keepMine();
    expect(sent(fetchImpl, 1)).toMatchObject({ age_at_exam: 59, updated_at: theirs.updated_at });
    expect(panel.status).toBe("saved");
    expect(panel.el.querySelector("[data-testid=clinical-conflict]")).toBeNull();
  });

  it("take theirs shows the stored record and drops mine", async () => {
    const theirs = record({ age_at_exam: 60, updated_at: "2026-01-01T12:00:00Z" });
    const { api, fetchImpl } = fakeApi([reply(409, { error: { code: "conflict", message: "changed", detail: { current: theirs } } })]);
    const panel = new ClinicalPanel(api, 7, record(), SCHEMA, true);
    field(panel, "age_at_exam").value = "59";
    await panel.save();
    panel.takeTheirs();
    expect(field(panel, "age_at_exam").value).toBe("60");
    expect(panel.status).toBe("saved");
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });

  it("a viewer sees the record but cannot edit or save it", () => {
    const { api } = fakeApi([]);
    const panel = new ClinicalPanel(api, 7, record(), SCHEMA, false);
    expect(field(panel, "age_at_exam").disabled).toBe(true);
    expect(panel.el.querySelector("[data-action=save-clinical]")).toBeNull();
  });
});
