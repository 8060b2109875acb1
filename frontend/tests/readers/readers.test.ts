import { describe, expect, it } from "vitest";
import { findingLine, labelLine } from "../../src/readers/adjudication";
import { changedAfterReveal, heat, kappaMatrix } from "../../src/readers/agreement";
import { readStep, type ReadingState } from "../../src/viewer/reads";
import { assignBody } from "../../src/worklist/assign";

const state = (first: string | null, final: string | null): ReadingState => ({
  exam: 1,
  blind_first_read: true,
  private_reads: false,
  status: "in_progress",
  first_read_submitted_at: first,
  final_read_submitted_at: final,
  proposals_withheld: first === null,
});

describe("the blind read steps", () => {
  it("asks for the first read, then the final one, then says both are in", () => {
    expect(readStep(state(null, null)).step).toBe("first");
    expect(readStep(state("2026-12-05T08:00:00Z", null))).toMatchObject({ step: "final" });
    expect(readStep(state("2026-12-05T08:00:00Z", null)).text).toContain("2026-12-05 08:00");
    expect(readStep(state("2026-12-05T08:00:00Z", "2026-12-05T08:10:00Z")).step).toBe("done");
  });
});

describe("assigning readers", () => {
  it("sends readers, a count or a seeded draw as the mode needs", () => {
    expect(assignBody([3, 4], "readers", ["ann", "bob"], 2, "7")).toEqual({ exams: [3, 4], mode: "readers", readers: ["ann", "bob"] });
    expect(assignBody([3], "count", [], 2, "")).toEqual({ exams: [3], mode: "count", per_exam: 2 });
    expect(assignBody([3], "balanced", [], 1, "7")).toEqual({ exams: [3], mode: "balanced", per_exam: 1, seed: 7 });
    expect(assignBody([3], "balanced", [], 1, " ")).not.toHaveProperty("seed");
  });
});

describe("the kappa matrix", () => {
  it("is symmetric with 1 on the diagonal and null where kappa is undefined", () => {
    const m = kappaMatrix(["a", "b", "c"], [
      { a: "a", b: "b", kappa: 0.5, exams: 4 },
      { a: "a", b: "c", kappa: null, exams: 1 },
      { a: "b", b: "c", kappa: -0.2, exams: 4 },
    ]);
    expect(m).toEqual([
      [1, 0.5, null],
      [0.5, 1, -0.2],
      [null, -0.2, 1],
    ]);
    expect(heat(null)).toBe("transparent");
    expect(heat(1)).toContain("95, 211, 141");
    expect(heat(-0.5)).toContain("255, 107, 107");
  });
});

describe("reads in words", () => {
  it("names a finding's labels and marks, and the exam labels", () => {
    const finding = { id: 1, finding_type: "mass", laterality: "L", birads: "4", pathology: "", marks: [{ kind: "box", image: 9, slide: null }] };
    expect(findingLine(finding as never)).toBe("mass, L, BI-RADS 4 — box on image 9");
    expect(labelLine({ labels: [{ laterality: "", density: "B", birads: "2", pathology: "" }] as never })).toBe("exam: density B BI-RADS 2");
    expect(labelLine({ labels: [] })).toBe("no labels");
  });
});

describe("changedAfterReveal", () => {
  it("sums the changed reads and names their direction", () => {
    const row = { changed_towards_model: 2, changed_away_from_model: 1 } as Parameters<typeof changedAfterReveal>[0];
    expect(changedAfterReveal(row)).toBe("3 (2 towards, 1 away)");
  });
});
