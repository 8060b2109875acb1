import { describe, expect, it } from "vitest";
import { Shortcuts } from "../src/shortcuts";

describe("shortcuts", () => {
  it("replaces a shortcut of several keys registered again without losing any other", () => {
    const keys = new Shortcuts(document);
    const run = () => {};
    keys.add({ keys: "p", description: "Polygon", group: "Tools", run });
    keys.add({ keys: ["0", "1", "2"], description: "BI-RADS", group: "Findings", run });
    keys.add({ keys: "]", description: "Next finding", group: "Findings", run });
    keys.add({ keys: ["0", "1", "2"], description: "BI-RADS", group: "Findings", run });
    const names = keys.entries().map((s) => s.description);
    expect(names).toContain("Polygon");
    expect(names).toContain("Next finding");
    expect(names.filter((n) => n === "BI-RADS")).toHaveLength(1);
  });
});
