import { describe, expect, it } from "vitest";
import { confusionTable, lineChart, niceTicks, trainingCharts, xyPoints } from "../../src/ml/charts";
import { metricLabel } from "../../src/ml/format";

describe("charts", () => {
  it("picks round ticks", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1, 3, 6, true)).toEqual([1, 2, 3]);
  });

  it("reads ROC points from either shape the engine stores", () => {
    expect(xyPoints({ fpr: [0, 0.5, 1], tpr: [0, 0.9, 1] }, "fpr", "tpr")).toEqual([[0, 0], [0.5, 0.9], [1, 1]]);
    expect(xyPoints([[0, 0], [1, 1]], "fpr", "tpr")).toEqual([[0, 0], [1, 1]]);
    expect(xyPoints(null, "fpr", "tpr")).toEqual([]);
  });

  it("keeps losses and scores on separate charts, each with one y quantity and a legend outside the plot", () => {
    const history = [
      { epoch: 1, train_loss: 0.9, val_loss: 1.0, val_auc: 0.6, lr: 0.001 },
      { epoch: 2, train_loss: 0.5, val_loss: 0.7, val_auc: 0.8, lr: 0.001 },
    ];
    const [loss, scores] = trainingCharts(history, metricLabel);
    expect(loss!.querySelector("figcaption")!.textContent).toBe("Loss per epoch");
    expect([...loss!.querySelectorAll(".chart-legend li")].map((li) => li.textContent)).toEqual(["Training loss", "Validation loss"]);
    expect([...scores!.querySelectorAll(".chart-legend li")].map((li) => li.textContent)).toEqual(["Validation AUC"]);
    expect(loss!.querySelectorAll("polyline")).toHaveLength(2);
    // the legend is an HTML list after the SVG, not text inside the plot
    expect(loss!.querySelector("svg .chart-legend")).toBeNull();
    expect(loss!.querySelector("svg")!.textContent).not.toContain("Training loss");
  });

  it("draws nothing for series without points", () => {
    expect(lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "a", points: [] }] })).toBeNull();
  });

  it("shows a confusion matrix with the recipe's class names", () => {
    const table = confusionTable([[5, 1], [2, 7]], ["benign", "malignant"])!;
    expect([...table.querySelectorAll("thead th")].map((th) => th.textContent)).toEqual(["Truth ↓ / predicted →", "benign", "malignant"]);
    expect([...table.querySelectorAll("tbody td")].map((td) => td.textContent)).toEqual(["5", "1", "2", "7"]);
  });
});
