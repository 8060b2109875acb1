import { describe, expect, it } from "vitest";
import { aiMessage, aiState, modelFor, type ActiveVersion, type Proposal } from "../../src/viewer/proposals";

const usModel: ActiveVersion = { id: 4, modality: "US", recipe: "busi-malignancy", task: "classification", label: "malignant" };
const anyModel: ActiveVersion = { id: 9, modality: "", recipe: "generic", task: "classification", label: "" };

describe("the AI layer's message", () => {
  it("says there is no active model for the exam's modality", () => {
    const state = aiState([], [{ ...usModel, modality: "MG" }], ["US"]);
    expect(state).toEqual({ kind: "no-model", modality: "US" });
    expect(aiMessage(state)).toBe("AI layer: no active model for US.");
  });

  it("says there are no predictions yet and which model a run would use", () => {
    const state = aiState([], [usModel], ["US"]);
    expect(state.kind).toBe("no-predictions");
    expect(aiMessage(state)).toBe("AI layer: no predictions for this exam yet: run one (model busi-malignancy v4).");
  });

  it("prefers the modality's model over one for any modality", () => {
    expect(modelFor([anyModel, usModel], ["US"])).toBe(usModel);
    expect(modelFor([anyModel], ["MG"])).toBe(anyModel);
  });

  it("says what it shows: the newest model's predictions, their label and the lesions drawn", () => {
    const proposals: Proposal[] = [
      { id: 3, image: 11, model: "busi-malignancy v4 (active)", model_version: 4, outputs: { label: "malignant", probability: 0.724, lesions: [{ cx: 1, cy: 2 }] } },
      { id: 2, image: 12, model: "busi-malignancy v4 (active)", model_version: 4, outputs: { label: "malignant", probability: 0.724, lesions: [] } },
      { id: 1, image: 11, model: "busi-malignancy v2 (retired)", model_version: 2, outputs: { label: "benign", probability: 0.3 } },
    ];
    const state = aiState(proposals, [], ["US"]);
    expect(state).toMatchObject({ kind: "shown", count: 2, lesions: 1, findings: ["malignant (72%)"] });
    expect(aiMessage(state)).toBe(
      "AI layer: 2 predictions of busi-malignancy v4 (active). It says malignant (72%). 1 lesion mark drawn when the layer is on (A).",
    );
  });
});
