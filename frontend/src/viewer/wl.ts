/** Window/level presets and helpers (pure). Values are in stored pixel units; presets that depend
 * on the image's bit depth are computed from it. */

export interface WindowLevel {
  center: number;
  width: number;
}

export interface WlPreset {
  name: string;
  label: string;
  /** The window for an image with this many stored bits and this [min, max] of its pixels. */
  window: (bits: number, min: number, max: number, stored: WindowLevel | null) => WindowLevel;
}

function fraction(lo: number, hi: number) {
  return (bits: number, min: number, max: number): WindowLevel => {
    const span = max > min ? max - min : 2 ** bits - 1;
    const low = min + span * lo;
    const high = min + span * hi;
    return { center: (low + high) / 2, width: Math.max(1, high - low) };
  };
}

export const WL_PRESETS: readonly WlPreset[] = [
  {
    name: "default",
    label: "Default (DICOM)",
    window: (bits, min, max, stored) => stored ?? fraction(0, 1)(bits, min, max),
  },
  { name: "full", label: "Full range", window: (bits) => ({ center: 2 ** (bits - 1), width: 2 ** bits }) },
  { name: "auto", label: "Auto (min-max)", window: fraction(0, 1) },
  { name: "dense", label: "Dense tissue", window: fraction(0.45, 1) },
  { name: "fatty", label: "Fatty tissue", window: fraction(0.1, 0.65) },
  { name: "high-contrast", label: "High contrast", window: fraction(0.3, 0.8) },
];

export function presetByName(name: string): WlPreset | undefined {
  return WL_PRESETS.find((p) => p.name === name);
}

/** Cornerstone's voiRange for a window. */
export function toVoiRange({ center, width }: WindowLevel): { lower: number; upper: number } {
  return { lower: center - width / 2, upper: center + width / 2 };
}

export function fromVoiRange({ lower, upper }: { lower: number; upper: number }): WindowLevel {
  return { center: (lower + upper) / 2, width: upper - lower };
}
