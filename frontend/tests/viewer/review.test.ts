import { describe, expect, it } from "vitest";
import { colourise, pictureMatrix, type Proposal } from "../../src/viewer/proposals";
import { countAbove, describeProposal, labelText, reviewable, scoreBlocks } from "../../src/viewer/review";

const proposals: Proposal[] = [
  { id: 1, image: null, model: "cls v4 (active)", outputs: { level: "exam", scores: { benign: 0.3, malignant: 0.7 }, breasts: { R: { benign: 0.4, malignant: 0.6 }, L: { benign: 0.2, malignant: 0.8 } } } },
  { id: 2, image: 7, model: "det v5 (active)", provenance: "proposed", outputs: { probability: 0.9, lesions: [{ cx: 1, cy: 2, radius: 3 }] } },
  { id: 3, image: 7, model: "seg v6 (active)", provenance: "proposed", mask_url: "/api/predictions/3/mask/", outputs: { probability: 0.4 } },
  { id: 4, image: 8, model: "cls v4 (active)", provenance: "proposed", heatmap_url: "/x", outputs: { probability: 0.95, scores: { malignant: 0.95 } } },
  { id: 5, image: 8, model: "det v5 (active)", provenance: "accepted", outputs: { probability: 0.99, lesions: [{ cx: 1, cy: 2 }] } },
];

describe("proposal review", () => {
  it("shows each reading's exam-level class scores, highest first, with the breasts' scores", () => {
    expect(scoreBlocks(proposals)).toEqual([
      { model: "cls v4 (active)", scores: [["malignant", 0.7], ["benign", 0.3]], breasts: [["L", 0.8], ["R", 0.6]] },
    ]);
  });

  it("offers a classifier's unreviewed exam scores as the label they say", () => {
    const density: Proposal = { id: 9, image: null, model: "density v2 (active)", provenance: "proposed", label_choice: { field: "density", value: "C" }, outputs: { level: "exam", scores: { A: 0.1, C: 0.9 } } };
    expect(scoreBlocks([density])[0]!.accept).toEqual({ id: 9, field: "density", value: "C" });
    expect(scoreBlocks([{ ...density, provenance: "accepted" }])[0]!.accept).toBeUndefined();
    expect(scoreBlocks(proposals)[0]!.accept).toBeUndefined();
    expect(labelText({ field: "birads", value: "4A" })).toBe("BI-RADS 4A");
    expect(labelText({ field: "density", value: "C" })).toBe("density C");
  });

  it("offers for review only unreviewed image proposals that outline a region", () => {
    expect(reviewable(proposals).map((p) => p.id)).toEqual([2, 3]);
    expect(countAbove(proposals, 0.5)).toBe(1);
    expect(countAbove(proposals, 0.3)).toBe(2);
  });

  it("describes a proposal by its image, score and what it outlines", () => {
    expect(describeProposal(proposals[1]!, (id) => `MG #${id}`)).toBe("MG #7 · 90% · 1 lesion");
    expect(describeProposal(proposals[2]!, (id) => `MG #${id}`)).toBe("MG #7 · 40% · mask");
  });
});

describe("proposal overlays", () => {
  it("places a picture on its image's corners, flipped viewports included", () => {
    expect(pictureMatrix([0, 0], [200, 0], [0, 100], 100, 50)).toBe("matrix(2 0 0 2 0 0)");
    // flipped horizontally: the first column lands on the right
    expect(pictureMatrix([200, 0], [0, 0], [200, 100], 100, 50)).toBe("matrix(-2 0 0 2 200 0)");
  });

  it("colours a map by its value and a mask in the proposals' colour", () => {
    const map = colourise(new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255]), "map");
    expect(Array.from(map)).toEqual([0, 0, 0, 0, 255, 255, 0, 255]);
    const mask = colourise(new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255]), "mask");
    expect(mask[3]).toBe(0);
    expect(Array.from(mask.slice(4))).toEqual([255, 61, 242, 200]);
  });
});
