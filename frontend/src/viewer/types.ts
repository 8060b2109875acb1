/** The shapes of the imaging API that the viewer reads (senolab/imaging/api/serializers.py). */

import type { ClinicalRecord } from "../clinical/panel";

export interface ImageInfo {
  id: number;
  exam: number;
  series: number;
  instance_number: number | null;
  modality: string;
  laterality: string;
  view: string;
  frame_count: number;
  rows: number;
  columns: number;
  samples_per_pixel: number;
  bits_allocated: number;
  bits_stored: number;
  pixel_spacing: number[] | null;
  photometric_interpretation: string;
  window_center: number | null;
  window_width: number | null;
  /** [rows, columns] of each level of the pixel cache, level 0 first. */
  levels: number[][];
  /** Burned-in text quarantine: clean, quarantined, cleaned or reviewed_clean. */
  pixel_status?: string;
  pixel_status_reason?: string;
}

export interface SeriesInfo {
  id: number;
  modality: string;
  number: number | null;
  description: string;
  images: ImageInfo[];
}

export interface ExamDetail {
  id: number;
  project: number;
  patient: number;
  patient_pseudonym: string;
  study_date: string | null;
  modalities: string[];
  description: string;
  status: string;
  series: SeriesInfo[];
  slides: { id: number }[];
  clinical_record?: ClinicalRecord | null;
}

export interface ExamSummary {
  id: number;
  study_date: string | null;
  modalities: string[];
  description: string;
}
