import { describe, expect, it } from "vitest";
import { stepFrame } from "../../src/viewer/cine";
import { proposalCircles, type Proposal } from "../../src/viewer/proposals";
import { mirroredPan } from "../../src/viewer/sync";
import { fromVoiRange, presetByName, toVoiRange, WL_PRESETS } from "../../src/viewer/wl";

describe("window/level presets", () => {
  it("uses the DICOM window when the image has one, the pixel range otherwise", () => {
    const preset = presetByName("default")!;

    expect(preset.window(12, 100, 4000, { center: 2000, width: 3600 })).toEqual({ center: 2000, width: 3600 });
    expect(preset.window(12, 100, 4100, null)).toEqual({ center: 2100, width: 4000 });
  });

  it("covers the whole 16-bit range without clipping it to 8 bits", () => {
    const wl = presetByName("full")!.window(16, 0, 0, null);

    expect(toVoiRange(wl)).toEqual({ lower: 0, upper: 65536 });
  });

  it("narrows the window for dense tissue to the bright part of the range", () => {
    const wl = presetByName("dense")!.window(12, 0, 4000, null);
    const { lower, upper } = toVoiRange(wl);

    expect(lower).toBeCloseTo(1800);
    expect(upper).toBeCloseTo(4000);
  });

  it("converts between a window and Cornerstone's VOI range", () => {
    expect(fromVoiRange(toVoiRange({ center: 1234, width: 500 }))).toEqual({ center: 1234, width: 500 });
    expect(new Set(WL_PRESETS.map((p) => p.name)).size).toBe(WL_PRESETS.length);
  });
});

describe("synchronised pan", () => {
  it("mirrors the horizontal pan between a right and a left breast only", () => {
    expect(mirroredPan([10, 5], "R", "L")).toEqual([-10, 5]);
    expect(mirroredPan([10, 5], "L", "R")).toEqual([-10, 5]);
    expect(mirroredPan([10, 5], "R", "R")).toEqual([10, 5]);
    expect(mirroredPan([10, 5], "", "L")).toEqual([10, 5]);
  });
});

describe("cine frames", () => {
  it("steps forward and back through the frames and wraps around", () => {
    expect(stepFrame(0, 1, 30)).toBe(1);
    expect(stepFrame(29, 1, 30)).toBe(0);
    expect(stepFrame(0, -1, 30)).toBe(29);
    expect(stepFrame(3, 0, 0)).toBe(0);
  });
});

describe("machine proposals layer", () => {
  const proposals: Proposal[] = [
    { id: 1, image: 7, model: "det v2", outputs: { lesions: [{ cx: 10, cy: 20, radius: 8, score: 0.9 }, { cx: 50, cy: 60, score: 0.2 }] } },
    { id: 2, image: 8, model: "det v2", outputs: { lesions: [{ cx: 1, cy: 1, score: 0.99 }] } },
    { id: 3, image: 7, model: null, outputs: { probability: 0.4 } },
  ];

  it("puts only the image's own lesions on it, above the score threshold", () => {
    const circles = proposalCircles(proposals, 7, 0.5);

    expect(circles).toEqual([{ id: 1, cx: 10, cy: 20, r: 8, score: 0.9, model: "det v2" }]);
  });

  it("gives a lesion without a radius a visible default", () => {
    expect(proposalCircles(proposals, 7).map((c) => c.r)).toEqual([8, 20]);
    expect(proposalCircles(proposals, 99)).toEqual([]);
  });
});
