import { describe, expect, it } from "vitest";
import { comparisonText, formatAuc, formatPercent, formatValue, groupRows, metricLabel, metricRows } from "../../src/ml/format";

describe("metric formatting", () => {
  it("writes the AUC with its bootstrap interval to three decimals", () => {
    expect(formatAuc(0.80912345, [0.68231, 0.91549])).toBe("0.809 [0.682, 0.915]");
    expect(formatAuc(0.8, null)).toBe("0.800");
    expect(formatAuc(null, [0.1, 0.2])).toBe("—");
  });

  it("rounds each metric to what it means", () => {
    expect(formatValue("sensitivity", 0.6666666)).toBe("0.667");
    expect(formatValue("n", 52)).toBe("52");
    expect(formatValue("train_loss", 0.123456)).toBe("0.123");
    expect(formatValue("val_loss", 12.3456)).toBe("12.3");
    expect(formatValue("lr", 0.001)).toBe("1e-3");
    expect(formatValue("seconds", 3.14159)).toBe("3.1 s");
    expect(formatValue("val_auc", 0.5)).toBe("0.500");
    expect(formatValue("threshold", null)).toBe("—");
  });

  it("never shows a raw object or list: nested values become named, rounded pairs", () => {
    const text = formatValue("per_class", { sensitivity: 0.91234, specificity: 0.5 });
    expect(text).toBe("Sensitivity 0.912 · Specificity 0.500");
    expect(text).not.toMatch(/[{}[\]]/);
  });

  it("names metrics in words", () => {
    expect(metricLabel("auc")).toBe("AUC");
    expect(metricLabel("val_auc")).toBe("Validation AUC");
    expect(metricLabel("val_accuracy")).toBe("Validation accuracy");
    expect(metricLabel("froc_at_0.5")).toBe("Sensitivity at 0.5 FP/image");
    expect(metricLabel("kappa_quadratic")).toBe("Quadratic-weighted kappa");
  });

  it("lists the AUC first with its interval and leaves the curves to the charts", () => {
    const rows = metricRows({
      n: 40, accuracy: 0.75, auc: 0.80912, auc_ci: [0.68231, 0.91549],
      roc: { fpr: [0, 1], tpr: [0, 1] }, confusion: [[1, 2], [3, 4]], calibration: { count: [1] },
    });
    expect(rows[0]).toEqual(["AUC (95% CI)", "0.809 [0.682, 0.915]"]);
    expect(rows.map((r) => r[0])).toEqual(["AUC (95% CI)", "Accuracy", "Cases"]);
  });

  it("leaves the per-site groups out of the metrics table and lists them as their own rows", () => {
    const groups = {
      site: { North: { n: 6, auc: 0.9, auc_ci: [0.7, 1], accuracy: 0.8333, accuracy_ci: null }, South: { n: 4, auc: null, auc_ci: null, accuracy: 0.5, accuracy_ci: [0.25, 0.75] } },
      manufacturer: { "(unknown)": { n: 10, auc: 0.8, auc_ci: null, accuracy: 0.7, accuracy_ci: null } },
    };
    expect(metricRows({ n: 10, accuracy: 0.7, groups }).map((r) => r[0])).toEqual(["Accuracy", "Cases"]);
    const { header, rows } = groupRows(groups);
    expect(header).toEqual(["Grouping", "Group", "Cases", "AUC (95% CI)", "Accuracy (95% CI)"]);
    expect(rows).toEqual([
      ["Site", "North", "6", "0.900 [0.700, 1.000]", "0.833"],
      ["Site", "South", "4", "—", "0.500 [0.250, 0.750]"],
      ["Scanner manufacturer", "(unknown)", "10", "0.800", "0.700"],
    ]);
    expect(groupRows(undefined).rows).toEqual([]);
  });

  it("writes a paired comparison as the signed difference, its interval and both values", () => {
    expect(comparisonText({ difference: 0.21, ci: [0.12, 0.3], challenger: 0.91, champion: 0.7 })).toBe("+0.210 [0.120, 0.300] (0.910 vs 0.700)");
    expect(comparisonText({ difference: -0.05, ci: null, challenger: 0.65, champion: 0.7 })).toBe("-0.050 (0.650 vs 0.700)");
    expect(comparisonText(undefined)).toBe("—");
  });

  it("writes progress as a whole percentage, clamped", () => {
    expect(formatPercent(0.416)).toBe("42%");
    expect(formatPercent(1.2)).toBe("100%");
  });
});

describe("nested metrics", () => {
  it("writes the validation split's metrics in words, with the AUC interval, not as a dict", () => {
    const rows = metricRows({ auc: 0.9, val: { n: 8, auc: 0.91234, auc_ci: null, accuracy: 1 }, split_sizes: { train: 44, val: 8, test: 8 } });
    expect(rows).toContainEqual(["Validation split", "AUC (95% CI) 0.912 · Accuracy 1.000 · Cases 8"]);
    expect(rows).toContainEqual(["Split sizes", "training 44 · validation 8 · test 8"]);
  });
});
