import { describe, expect, it } from "vitest";
import { preannotateBody, preannotateLabel } from "../../src/worklist/preannotate";

describe("pre-annotation from the worklist", () => {
  it("sends the ticked exams in order, or none for the whole project", () => {
    expect(preannotateBody(3, new Set([9, 2, 5]))).toEqual({ project: 3, exams: [2, 5, 9] });
    expect(preannotateBody(3, new Set())).toEqual({ project: 3 });
  });

  it("says what the button will pre-annotate", () => {
    expect(preannotateLabel(0)).toBe("Pre-annotate the project");
    expect(preannotateLabel(2)).toBe("Pre-annotate 2 selected");
  });
});
