/** The shapes of the annotations API (annotations/api/serializers.py, annotations/services.py)
 * and of the project's label schema (senolab/projects/schema.py). */

export type MarkKind = "box" | "ellipse" | "polygon" | "freehand" | "point" | "length" | "mask";

/** A drawn shape in the pixel coordinates of one image (or of a slide, at level 0).
 * Geometry: box {x, y, width, height}; ellipse {cx, cy, rx, ry}; polygon and freehand
 * {points: [[x, y], ...]}; point {x, y}; length {points: [[x1, y1], [x2, y2]]}; mask
 * {x, y, width, height} of the PNG's box within the image. */
export interface Mark {
  /** The server's id; a mark sent with its id keeps its stored mask. */
  id?: number | null;
  /** A client-side key, stable across saves (the server never sees it). */
  key?: string;
  image?: number | null;
  slide?: number | null;
  frame?: number;
  kind: MarkKind;
  geometry: Record<string, unknown>;
  /** A new or redrawn mask: one-channel PNG (0/255) covering geometry's box, base64. */
  mask_png_base64?: string;
  /** Where a stored mask can be read (set by the server). */
  mask_url?: string;
}

/** The labelled fields of a finding that a reader edits. */
export interface FindingFields {
  finding_type: string;
  birads: string;
  pathology: string;
  laterality: string;
  attributes: Record<string, unknown>;
  note: string;
  marks: Mark[];
}

/** A finding as the server stores it (also the 409 detail's "current"). */
export interface Finding extends FindingFields {
  id: number;
  project: number;
  exam: number;
  source: "human" | "reference";
  version: number;
  deleted: boolean;
  created_by: number | null;
  updated_by: number | null;
  created_at: string | null;
  updated_at: string | null;
}

/** The label fields of an exam-level (laterality "") or breast-level (L, R) label. */
export interface LabelFields {
  density: string;
  birads: string;
  pathology: string;
  attributes: Record<string, unknown>;
}

export type LabelLaterality = "" | "L" | "R";

export interface ExamLabel extends LabelFields {
  id: number;
  exam: number;
  source: "human" | "reference";
  laterality: LabelLaterality;
  version: number;
  author: number | null;
  updated_at: string | null;
}

export interface AttributeSpec {
  type: "choice" | "text" | "number" | "bool";
  choices?: string[];
  /** Modalities the attribute applies to; empty or absent means every modality. */
  modalities?: string[];
  /** Finding types it describes (a margin describes a mass); empty or absent means every type. */
  finding_types?: string[];
}

export interface LabelSchema {
  finding_types: string[];
  birads: string[];
  density: string[];
  pathology: string[];
  attributes?: Record<string, AttributeSpec>;
}

/** How far the reader's work is from the server: one state for the whole page. */
export type SaveState = "saved" | "saving" | "dirty" | "conflict" | "error";

/** The default schema (senolab/projects/schema.py) for a project that has none. */
export const DEFAULT_SCHEMA: LabelSchema = {
  finding_types: ["mass", "calcification", "asymmetry", "architectural_distortion", "other"],
  birads: ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"],
  density: ["A", "B", "C", "D"],
  pathology: ["normal", "benign", "malignant", "unknown"],
  attributes: {},
};

export function emptyFindingFields(): FindingFields {
  return {
    finding_type: "",
    birads: "",
    pathology: "",
    laterality: "",
    attributes: {},
    note: "",
    marks: [],
  };
}

export function emptyLabelFields(): LabelFields {
  return { density: "", birads: "", pathology: "", attributes: {} };
}
