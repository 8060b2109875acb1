import { describe, expect, it } from "vitest";
import {
  chestWallSide,
  hangImages,
  mammoSlotOf,
  needsFlip,
  slotTitle,
  viewCode,
} from "../../src/viewer/hanging";
import type { ImageInfo } from "../../src/viewer/types";
import { makeImage } from "./fixtures";

function slotMap(images: Parameters<typeof hangImages>[0]): Record<string, number[]> {
  return Object.fromEntries(hangImages(images).slots.map((s) => [s.slot, s.images.map((i) => i.id)]));
}

describe("hanging protocol", () => {
  it("hangs a four-view mammogram in the R-CC, L-CC, R-MLO, L-MLO slots whatever the order", () => {
    const images = [
      makeImage({ id: 11, laterality: "L", view: "MLO" }),
      makeImage({ id: 12, laterality: "R", view: "CC" }),
      makeImage({ id: 13, laterality: "R", view: "MLO" }),
      makeImage({ id: 14, laterality: "L", view: "CC" }),
    ];

    const hanging = hangImages(images);

    expect(hanging.layout).toBe("mammo");
    expect(hanging.slots.map((s) => s.slot)).toEqual(["R-CC", "L-CC", "R-MLO", "L-MLO"]);
    expect(slotMap(images)).toEqual({ "R-CC": [12], "L-CC": [14], "R-MLO": [13], "L-MLO": [11] });
  });

  it("leaves a slot empty when its view is missing and takes the first of duplicates", () => {
    const images = [
      makeImage({ id: 21, laterality: "R", view: "CC" }),
      makeImage({ id: 22, laterality: "R", view: "cc" }),
      makeImage({ id: 23, laterality: "L", view: "MLO" }),
    ];

    expect(slotMap(images)).toEqual({ "R-CC": [21], "L-CC": [], "R-MLO": [], "L-MLO": [23] });
  });

  it("reads view synonyms (ML, XCCL) and lower case laterality", () => {
    expect(viewCode("xccl")).toBe("CC");
    expect(viewCode("ML")).toBe("MLO");
    expect(mammoSlotOf(makeImage({ laterality: "l", view: "ml" }))).toBe("L-MLO");
    expect(mammoSlotOf(makeImage({ laterality: "", view: "CC" }))).toBeNull();
  });

  it("stacks the slices of an MR series in one viewport", () => {
    const slices = [3, 1, 2].map((n) =>
      makeImage({ id: 30 + n, modality: "MR", series: 7, instance_number: n }),
    );

    const hanging = hangImages(slices);

    expect(hanging.layout).toBe("stack");
    expect(hanging.slots).toHaveLength(1);
    expect(hanging.slots[0]!.slot).toBe("stack");
    expect(hanging.slots[0]!.images.map((i) => i.id)).toEqual([33, 31, 32]);
  });

  it("shows a single ultrasound image in the single slot", () => {
    const hanging = hangImages([makeImage({ modality: "US", laterality: "R", frame_count: 30 })]);

    expect(hanging.layout).toBe("grid");
    expect(hanging.slots.map((s) => s.slot)).toEqual(["single"]);
  });
});

describe("mirroring so the chest walls face each other", () => {
  it("flips a right breast whose chest wall is stored on the left, and a left one stored right", () => {
    expect(needsFlip("R", "left")).toBe(true);
    expect(needsFlip("R", "right")).toBe(false);
    expect(needsFlip("L", "right")).toBe(true);
    expect(needsFlip("L", "left")).toBe(false);
    expect(needsFlip("L", "unknown")).toBe(false);
    expect(needsFlip("", "left")).toBe(false);
  });

  it("finds the chest wall on the side where the tissue is", () => {
    const rows = 20;
    const columns = 30;
    const pixels = new Uint16Array(rows * columns);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < columns; x++) pixels[y * columns + x] = x < 20 ? 3000 - x * 50 : 0;
    }

    expect(chestWallSide(pixels, rows, columns)).toBe("left");
    expect(chestWallSide(pixels, rows, columns, false)).toBe("right");
    expect(chestWallSide(new Uint16Array(rows * columns).fill(7), rows, columns)).toBe("unknown");
  });

  it("names a viewport in words a reader knows, never by its slot", () => {
    const us = { modality: "US", laterality: "R", view: "" } as ImageInfo;
    expect(slotTitle({ slot: "single", images: [us], laterality: "R" })).toBe("US R");
    expect(slotTitle({ slot: "image-2", images: [us], laterality: "R" })).toBe("US R (2)");
    expect(slotTitle({ slot: "R-CC", images: [us], laterality: "R" })).toBe("R-CC");
  });
});
