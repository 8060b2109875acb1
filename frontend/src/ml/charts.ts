/** Small SVG charts of the ML pages, drawn here (no chart library, nothing from a CDN): training
 * curves, ROC, calibration, and the confusion matrix as a shaded table. One quantity per y axis;
 * the legend is an HTML list under the plot, so it never covers a curve or another label. */

import { h } from "../findings/dom";

const SVG = "http://www.w3.org/2000/svg";
const W = 360;
const H = 240;
const M = { left: 48, right: 12, top: 12, bottom: 40 };
export const COLOURS = ["#4fa3ff", "#ffb347", "#5fd38d", "#c792ea", "#ff6b6b", "#7fdbca"];

export interface Series {
  name: string;
  points: [number, number][];
  colour?: string;
  dashed?: boolean;
  dots?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed axis ranges (e.g. [0, 1] for rates); otherwise from the data. */
  x?: [number, number];
  y?: [number, number];
  /** Integer ticks only (epochs). */
  xIntegers?: boolean;
  /** A grey dashed y = x line (ROC chance, perfect calibration), not in the legend. */
  diagonal?: boolean;
}

/** About `count` round tick values covering [lo, hi] (pure). */
export function niceTicks(lo: number, hi: number, count = 5, integers = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step0 = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const step = integers ? Math.max(1, Math.round(step0)) : step0;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function tickText(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3)));
}

/** A line chart in a <figure>: the SVG plot and the legend under it. Empty series are left out;
 * with none left, null. */
export function lineChart(spec: ChartSpec): HTMLElement | null {
  const series = spec.series.filter((s) => s.points.some(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (!series.length) return null;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const [x0, x1] = spec.x ?? [Math.min(...xs), Math.max(Math.max(...xs), Math.min(...xs) + 1)];
  let [y0, y1] = spec.y ?? [Math.min(0, ...ys), Math.max(...ys)];
  if (!spec.y) {
    if (y1 <= y0) y1 = y0 + 1;
    y1 = y1 + (y1 - y0) * 0.05;
  }
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => M.top + (1 - (y - y0) / (y1 - y0 || 1)) * ph;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": spec.title, class: "chart" });
  svg.append(svgEl("title", {}, spec.title));
  for (const t of niceTicks(y0, y1, 5)) {
    svg.append(svgEl("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t), class: "grid" }));
    svg.append(svgEl("text", { x: M.left - 6, y: sy(t) + 3, "text-anchor": "end", class: "tick" }, tickText(t)));
  }
  for (const t of niceTicks(x0, x1, 6, spec.xIntegers)) {
    svg.append(svgEl("line", { x1: sx(t), x2: sx(t), y1: H - M.bottom, y2: H - M.bottom + 4, class: "axis" }));
    svg.append(svgEl("text", { x: sx(t), y: H - M.bottom + 15, "text-anchor": "middle", class: "tick" }, tickText(t)));
  }
  svg.append(svgEl("rect", { x: M.left, y: M.top, width: pw, height: ph, class: "frame" }));
  if (spec.diagonal) svg.append(svgEl("line", { x1: sx(x0), y1: sy(y0), x2: sx(x1), y2: sy(y1), class: "diagonal" }));
  const legend = h("ul", { className: "chart-legend" });
  series.forEach((s, i) => {
    const colour = s.colour ?? COLOURS[i % COLOURS.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length > 1) {
      svg.append(
        svgEl("polyline", {
          points: pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
          fill: "none",
          stroke: colour,
          "stroke-width": 1.8,
          ...(s.dashed ? { "stroke-dasharray": "5 3" } : {}),
          "data-series": s.name,
        }),
      );
    }
    if (s.dots || pts.length === 1) for (const [x, y] of pts) svg.append(svgEl("circle", { cx: sx(x), cy: sy(y), r: 2.8, fill: colour }));
    const swatch = h("span", { className: "swatch" });
    swatch.style.background = colour;
    legend.append(h("li", {}, swatch, s.name));
  });
  svg.append(svgEl("text", { x: M.left + pw / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, spec.xLabel));
  svg.append(svgEl("text", { x: 12, y: M.top + ph / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 12 ${M.top + ph / 2})` }, spec.yLabel));
  return h("figure", { className: "chart-figure" }, h("figcaption", {}, spec.title), svg, legend);
}

/** Points from {"fpr": [...], "tpr": [...]}-like objects or [[x, y], ...] lists (pure). */
export function xyPoints(data: unknown, xKey: string, yKey: string): [number, number][] {
  if (Array.isArray(data)) {
    return data.filter((p): p is [number, number] => Array.isArray(p) && typeof p[0] === "number" && typeof p[1] === "number").map((p) => [p[0], p[1]]);
  }
  if (data && typeof data === "object") {
    const o = data as Record<string, unknown>;
    const xs = o[xKey];
    const ys = o[yKey];
    if (Array.isArray(xs) && Array.isArray(ys)) {
      return xs.flatMap((x, i) => (typeof x === "number" && typeof ys[i] === "number" ? [[x, ys[i] as number] as [number, number]] : []));
    }
  }
  return [];
}

export function rocChart(roc: unknown, aucText: string): HTMLElement | null {
  const points = xyPoints(roc, "fpr", "tpr");
  return lineChart({
    title: `ROC curve, test split (AUC ${aucText})`,
    xLabel: "False positive rate (1 − specificity)",
    yLabel: "True positive rate (sensitivity)",
    series: [{ name: "Model", points }],
    x: [0, 1],
    y: [0, 1],
    diagonal: true,
  });
}

export function calibrationChart(calibration: unknown): HTMLElement | null {
  const points = xyPoints(calibration, "mean_predicted", "fraction_positive");
  return lineChart({
    title: "Calibration, test split",
    xLabel: "Predicted probability",
    yLabel: "Observed frequency",
    series: [{ name: "Model (bins of predictions)", points, dots: true }],
    x: [0, 1],
    y: [0, 1],
    diagonal: true,
  });
}

/** A confusion matrix as a table: rows the truth, columns the prediction, cells shaded by count. */
export function confusionTable(matrix: unknown, classes: string[]): HTMLElement | null {
  if (!Array.isArray(matrix) || !matrix.length || !matrix.every((r) => Array.isArray(r))) return null;
  const rows = matrix as number[][];
  const names = rows.map((_, i) => classes[i] ?? String(i));
  const peak = Math.max(1, ...rows.flat().filter((v) => typeof v === "number"));
  const table = h("table", { className: "confusion", "aria-label": "Confusion matrix" });
  table.append(
    h("thead", {}, h("tr", {}, h("th", {}, "Truth ↓ / predicted →"), ...names.map((n) => h("th", { scope: "col" }, n)))),
  );
  const body = h("tbody");
  rows.forEach((row, i) => {
    const tr = h("tr", {}, h("th", { scope: "row" }, names[i]!));
    for (const value of row) {
      const td = h("td", {}, String(value));
      td.style.background = `rgba(79, 163, 255, ${(0.08 + (0.6 * value) / peak).toFixed(2)})`;
      tr.append(td);
    }
    body.append(tr);
  });
  table.append(body);
  return h("figure", { className: "chart-figure" }, h("figcaption", {}, "Confusion matrix, test split"), table);
}

export type HistoryEntry = Record<string, number | string | null>;

/** The training curves: losses on one chart, validation scores (all in [0, 1]) on another. */
export function trainingCharts(history: HistoryEntry[], label: (key: string) => string): HTMLElement[] {
  const keys = new Set(history.flatMap((e) => Object.keys(e).filter((k) => typeof e[k] === "number")));
  const series = (names: string[]) =>
    names
      .filter((k) => keys.has(k))
      .map((k, i) => ({
        name: label(k),
        colour: COLOURS[i % COLOURS.length],
        dots: true,
        points: history.flatMap((e, j) => (typeof e[k] === "number" ? [[Number(e.epoch ?? j + 1), e[k] as number] as [number, number]] : [])),
      }));
  const scores = [...keys].filter((k) => k.startsWith("val_") && k !== "val_loss").sort();
  const out = [
    lineChart({ title: "Loss per epoch", xLabel: "Epoch", yLabel: "Loss", series: series(["train_loss", "val_loss"]), xIntegers: true }),
    lineChart({ title: "Validation scores per epoch", xLabel: "Epoch", yLabel: "Score (0–1)", series: series(scores), y: [0, 1], xIntegers: true }),
  ];
  return out.filter((x): x is HTMLElement => x !== null);
}
