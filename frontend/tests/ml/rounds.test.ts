import { describe, expect, it } from "vitest";
import { curveMetric, learningCurve, parseMinutes, pickReason, type Round } from "../../src/ml/roundsView";

function round(labels: number, metrics: Record<string, number>): Round {
  return { model_version_metrics: { labels_used: labels, ...metrics } } as unknown as Round;
}

describe("active-learning rounds page", () => {
  it("says why a pick was chosen by its strategy, rank and aggregation", () => {
    expect(pickReason({ strategy: "random", params: { seed: 7 } }, 0, 2)).toBe("drawn at random (seed 7)");
    expect(pickReason({ strategy: "entropy", params: { aggregate: "max" } }, 0.6931, 1)).toBe(
      "the most uncertain exam: entropy of the predicted classes 0.693 (its most uncertain image)",
    );
    expect(pickReason({ strategy: "margin", params: { aggregate: "mean" } }, 0.25, 3)).toContain("uncertainty rank 3");
    expect(pickReason({ strategy: "entropy", params: { rare_class: "malignant" } }, 0.99, 3, "balance")).toBe(
      "class-balance guard: probability of malignant 0.990",
    );
  });

  it("explains core-set, BADGE and BALD picks", () => {
    expect(pickReason({ strategy: "coreset", params: {} }, 0, 1)).toBe("the seeded first centre (nothing read yet)");
    expect(pickReason({ strategy: "coreset", params: {} }, 12.5, 2)).toBe("farthest from the read and earlier picks: distance 12.500");
    expect(pickReason({ strategy: "badge", params: {} }, 3.2, 1)).toContain("gradient embedding of norm 3.200");
    expect(pickReason({ strategy: "bald", params: { mc_samples: 4 } }, 0.4948, 1)).toBe(
      "the most disputed exam: mutual information 0.495 over 4 dropout passes",
    );
  });

  it("reads minutes per exam as MODALITY=minutes pairs", () => {
    expect(parseMinutes("US=4, mg = 6.5")).toEqual({ US: 4, MG: 6.5 });
    expect(parseMinutes("")).toEqual({});
    expect(parseMinutes("US:4")).toBeNull();
  });

  it("draws the learning curve by labels used, one point per version, from the shared metric", () => {
    const rounds = [round(40, { auc: 0.8 }), round(20, { auc: 0.7 }), round(40, { auc: 0.8 }), round(60, {})];
    expect(curveMetric(rounds)).toBe("auc");
    expect(learningCurve(rounds, "auc")).toEqual([
      [20, 0.7],
      [40, 0.8],
    ]);
    expect(curveMetric([round(10, { accuracy: 0.5 })])).toBe("accuracy");
  });
});
