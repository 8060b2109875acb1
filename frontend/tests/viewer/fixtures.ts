/** Small ImageInfo factories for the viewer's unit tests. */
import type { ImageInfo } from "../../src/viewer/types";

let next = 1;

export function makeImage(overrides: Partial<ImageInfo> = {}): ImageInfo {
  const id = overrides.id ?? next++;
  return {
    id,
    exam: 1,
    series: 1,
    instance_number: id,
    modality: "MG",
    laterality: "",
    view: "",
    frame_count: 1,
    rows: 400,
    columns: 300,
    samples_per_pixel: 1,
    bits_allocated: 16,
    bits_stored: 12,
    pixel_spacing: [0.1, 0.1],
    photometric_interpretation: "MONOCHROME2",
    window_center: 2000,
    window_width: 4000,
    levels: [[400, 300], [200, 150]],
    ...overrides,
  };
}
