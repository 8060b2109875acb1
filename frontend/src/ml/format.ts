/** How the ML pages write numbers: each metric rounded to what it means (AUC 0.809 [0.682, 0.915],
 * counts as integers, losses to three significant digits, the learning rate as 1e-3), named in
 * words, and nothing shown as a raw object. Pure functions, unit-tested. */

import type { JobStatus } from "../jobs";

/** Keys holding curves or matrices: drawn as charts, never listed as numbers. */
export const CURVE_KEYS = new Set(["roc", "confusion", "calibration", "froc_curve", "auc_ci", "groups"]);

const LABELS: Record<string, string> = {
  n: "Cases",
  n_images: "Images",
  n_lesions: "Lesions",
  auc: "AUC",
  accuracy: "Accuracy",
  sensitivity: "Sensitivity",
  specificity: "Specificity",
  f1: "F1 score",
  brier: "Brier score",
  kappa_quadratic: "Quadratic-weighted kappa",
  threshold: "Decision threshold",
  threshold_at_1: "Score threshold at 1 false positive per image",
  dice: "Dice (images with a lesion)",
  dice_all: "Dice (all images)",
  froc: "FROC (mean sensitivity at 0.5, 1, 2 FP/image)",
  train_loss: "Training loss",
  val_loss: "Validation loss",
  lr: "Learning rate",
  seconds: "Epoch time",
  train_seconds: "Training time",
  images_per_second: "Images per second",
  epoch: "Epoch",
  val: "Validation split",
  test: "Test split",
  epochs_run: "Epochs run",
};

const COUNTS = new Set(["n", "n_images", "n_lesions", "epoch"]);
const FRACTIONS = /^(val_)?(auc|accuracy|sensitivity|specificity|f1|dice|dice_all|froc|froc_at_.*|kappa_quadratic|brier|threshold.*)$/;

/** A metric's name in words: "val_auc" → "Validation AUC", "froc_at_0.5" → "Sensitivity at 0.5 FP/image". */
export function metricLabel(key: string): string {
  if (LABELS[key]) return LABELS[key];
  const froc = /^froc_at_(.+)$/.exec(key);
  if (froc) return `Sensitivity at ${froc[1]} FP/image`;
  if (key.startsWith("val_")) {
    const inner = metricLabel(key.slice(4));
    return `Validation ${/^[A-Z0-9]{2}/.test(inner) ? inner : inner.charAt(0).toLowerCase() + inner.slice(1)}`;
  }
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** One number as its metric means it. */
export function formatNumber(key: string, value: number): string {
  if (COUNTS.has(key)) return String(Math.round(value));
  if (FRACTIONS.test(key)) return value.toFixed(3);
  if (key === "lr") return value === 0 ? "0" : Number(value.toPrecision(2)).toExponential();
  if (key.endsWith("seconds")) return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
  if (key === "images_per_second") return value.toFixed(0);
  if (/loss/.test(key)) return Number(value.toPrecision(3)).toString();
  return Number.isInteger(value) ? String(value) : Number(value.toPrecision(3)).toString();
}

/** "0.809 [0.682, 0.915]" (the interval is the bootstrap 95% CI), "—" when there is no AUC. */
export function formatAuc(auc: unknown, ci?: unknown): string {
  if (!isNumber(auc)) return "—";
  const interval = Array.isArray(ci) && ci.length === 2 && ci.every(isNumber) ? ` [${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]` : "";
  return `${auc.toFixed(3)}${interval}`;
}

/** Any metric value as text: numbers rounded, lists joined, objects as "name value" pairs. */
export function formatValue(key: string, value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (isNumber(value)) return formatNumber(key, value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map((v) => formatValue(key, v)).join(", ");
  if (typeof value === "object" && key === "split_sizes") {
    const names: Record<string, string> = { train: "training", val: "validation", test: "test" };
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${names[k] ?? k} ${formatValue("n", v)}`)
      .join(" · ");
  }
  if (typeof value === "object") {
    return metricRows(value as Record<string, unknown>)
      .map(([label, text]) => `${label} ${text}`)
      .join(" · ");
  }
  return String(value);
}

/** The rows of a metrics table: [label, text], AUC first with its interval, curves left out. */
export function metricRows(metrics: Record<string, unknown> | null | undefined): [string, string][] {
  const m = metrics ?? {};
  const rows: [string, string][] = [];
  if ("auc" in m) rows.push(["AUC (95% CI)", formatAuc(m.auc, m.auc_ci)]);
  const order = ["accuracy", "sensitivity", "specificity", "f1", "kappa_quadratic", "brier", "dice", "dice_all", "froc", "threshold", "n", "n_images", "n_lesions"];
  const keys = Object.keys(m).filter((k) => k !== "auc" && !CURVE_KEYS.has(k));
  keys.sort((a, b) => rank(a, order) - rank(b, order)); // stable: the others as stored
  for (const key of keys) rows.push([metricLabel(key), formatValue(key, m[key])]);
  return rows;
}

function rank(key: string, order: string[]): number {
  const i = order.indexOf(key);
  return i < 0 ? order.length : i;
}

/** A fraction as a whole percentage: 0.416 → "42%". */
export function formatPercent(fraction: number): string {
  return `${Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100)}%`;
}

export function statusText(status: JobStatus | string): string {
  return status === "queued" ? "queued" : status === "running" ? "running" : status === "succeeded" ? "done" : status;
}

/** "2026-12-04 17:28" in the reader's time zone; "—" for none. */
export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const GROUPINGS: Record<string, string> = { site: "Site", manufacturer: "Scanner manufacturer" };
const GROUP_METRICS = ["auc", "accuracy", "sensitivity", "specificity", "dice"];

/** The figures of an evaluation's `groups` ({"site": {"North": {n, auc, auc_ci, ...}}}) as
 * table rows: [grouping, group, cases, then each metric the groups hold with its interval]. */
export function groupRows(groups: unknown): { header: string[]; rows: string[][] } {
  const byName = (groups && typeof groups === "object" ? groups : {}) as Record<string, Record<string, Record<string, unknown>>>;
  const entries = Object.entries(byName).flatMap(([name, values]) => Object.entries(values ?? {}).map(([value, figures]) => ({ name, value, figures: figures ?? {} })));
  const metrics = GROUP_METRICS.filter((m) => entries.some((e) => m in e.figures));
  return {
    header: ["Grouping", "Group", metricLabel("n"), ...metrics.map((m) => `${metricLabel(m)} (95% CI)`)],
    rows: entries.map(({ name, value, figures }) => [
      GROUPINGS[name] ?? name,
      value,
      formatValue("n", figures.n),
      ...metrics.map((m) => formatAuc(figures[m], figures[`${m}_ci`])),
    ]),
  };
}

/** A paired comparison as "+0.210 [0.120, 0.300] (0.910 vs 0.700)": the challenger's metric minus
 * the champion's with its 95% interval, then both values; "—" when there was none. */
export function comparisonText(overall: unknown): string {
  const o = (overall && typeof overall === "object" ? overall : {}) as Record<string, unknown>;
  if (!isNumber(o.difference)) return "—";
  const ci = Array.isArray(o.ci) && o.ci.length === 2 && o.ci.every(isNumber) ? ` [${o.ci[0].toFixed(3)}, ${o.ci[1].toFixed(3)}]` : "";
  const sign = o.difference >= 0 ? "+" : "";
  const both = isNumber(o.challenger) && isNumber(o.champion) ? ` (${o.challenger.toFixed(3)} vs ${o.champion.toFixed(3)})` : "";
  return `${sign}${o.difference.toFixed(3)}${ci}${both}`;
}
