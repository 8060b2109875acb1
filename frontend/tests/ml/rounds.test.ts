import { describe, expect, it } from "vitest";
import { curveMetric, learningCurve, pickReason, type Round } from "../../src/ml/roundsView";

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
