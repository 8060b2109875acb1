/** Cornerstone3D set-up and the "senolab:" image loader.
 *
 * Pixels come from the platform's pixel cache (/api/images/{id}/pixels?level=&frame=) as raw
 * little-endian uint8/uint16/int16 samples: 12- and 16-bit mammograms keep their whole dynamic
 * range (windowing happens in the viewer), no DICOM parsing or codec workers are needed, and a
 * downsampled level gives a fast first picture before the full-resolution level arrives.
 *
 * World coordinates: level-0 pixel (x, y) (origin at the top-left corner of the image, as the
 * annotation API counts) sits at world (x * columnSpacing, y * rowSpacing, 0). Every level of an
 * image spans the same world rectangle, so a camera and the annotations survive the switch from
 * a coarse level to level 0.
 */

import {
  Enums,
  imageLoader,
  init as initCore,
  metaData,
  setUseCPURendering,
  utilities,
  type Types,
} from "@cornerstonejs/core";
import { init as initTools } from "@cornerstonejs/tools";
import type { ImageInfo } from "./types";

export const SCHEME = "senolab";

/** What the viewer knows about each imageId it made: the image and which level/frame. */
interface Registered {
  image: ImageInfo;
  level: number;
  frame: number;
  rows: number;
  columns: number;
}

const registry = new Map<string, Registered>();
let started: Promise<void> | null = null;

/** The imageId of one level and frame of an image. */
export function imageIdFor(image: ImageInfo, level = 0, frame = 0): string {
  const id = `${SCHEME}:${image.id}/${level}/${frame}`;
  if (!registry.has(id)) {
    const [rows, columns] = image.levels[level] ?? [image.rows, image.columns];
    registry.set(id, { image, level, frame, rows: rows!, columns: columns! });
  }
  return id;
}

/** The image and level behind an imageId made by imageIdFor. */
export function lookup(imageId: string): Registered | undefined {
  return registry.get(imageId);
}

/** Level-0 pixel spacing [column (x), row (y)] in mm; 1 when the image has none. */
export function spacingOf(image: ImageInfo): [number, number] {
  const ps = image.pixel_spacing;
  if (ps && ps.length >= 2 && ps[0]! > 0 && ps[1]! > 0) return [ps[1]!, ps[0]!];
  return [1, 1];
}

/** The level to draw first: the finest one no taller than `maxRows` (level 0 when it is). */
export function previewLevel(image: ImageInfo, maxRows = 1100): number {
  const levels = image.levels.length ? image.levels : [[image.rows, image.columns]];
  const index = levels.findIndex(([rows]) => (rows ?? Infinity) <= maxRows);
  return index >= 0 ? index : levels.length - 1;
}

/** The world z of an image's frame: frames of a cine and slices of a stack lie one unit apart. */
export function planeZ(image: ImageInfo, frame: number): number {
  return (image.instance_number ?? 0) + frame;
}

function levelSpacing(entry: Registered): [number, number] {
  const [sx, sy] = spacingOf(entry.image);
  return [(sx * entry.image.columns) / entry.columns, (sy * entry.image.rows) / entry.rows];
}

function metadataProvider(type: string, imageId: string): unknown {
  const entry = registry.get(imageId);
  if (!entry) return undefined;
  const { image } = entry;
  const [sx, sy] = levelSpacing(entry);
  const color = image.samples_per_pixel === 3;
  switch (type) {
    case "imagePlaneModule":
      return {
        frameOfReferenceUID: `senolab.image.${image.id}`,
        rows: entry.rows,
        columns: entry.columns,
        imageOrientationPatient: [1, 0, 0, 0, 1, 0],
        rowCosines: [1, 0, 0],
        columnCosines: [0, 1, 0],
        // The centre of the first pixel, so that pixel edges fall on whole multiples of spacing.
        imagePositionPatient: [sx / 2, sy / 2, planeZ(image, entry.frame)],
        pixelSpacing: [sy, sx],
        rowPixelSpacing: sy,
        columnPixelSpacing: sx,
        sliceThickness: 1,
        sliceLocation: planeZ(image, entry.frame),
      };
    case "imagePixelModule":
      return {
        samplesPerPixel: color ? 3 : 1,
        photometricInterpretation: color ? "RGB" : image.photometric_interpretation || "MONOCHROME2",
        rows: entry.rows,
        columns: entry.columns,
        bitsAllocated: image.bits_allocated || 16,
        bitsStored: image.bits_stored || 16,
        highBit: (image.bits_stored || 16) - 1,
        pixelRepresentation: 0,
      };
    case "generalSeriesModule":
      return { modality: image.modality, seriesInstanceUID: `senolab.series.${image.series}` };
    case "generalImageModule":
      return { instanceNumber: image.instance_number ?? 1 };
    case "voiLutModule":
      return image.window_width && image.window_center !== null
        ? { windowCenter: [image.window_center], windowWidth: [image.window_width] }
        : undefined;
    case "modalityLutModule":
      return { rescaleSlope: 1, rescaleIntercept: 0 };
    default:
      return undefined;
  }
}

function typed(buffer: ArrayBuffer, dtype: string): Types.PixelDataTypedArray {
  if (dtype === "uint8") return new Uint8Array(buffer);
  if (dtype === "int16") return new Int16Array(buffer);
  if (dtype === "float32") return new Float32Array(buffer);
  return new Uint16Array(buffer);
}

function extent(data: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** Fetch one level/frame of an image and make it a Cornerstone image. */
async function fetchImage(imageId: string, entry: Registered): Promise<Types.IImage> {
  const { image, level, frame } = entry;
  const response = await fetch(`/api/images/${image.id}/pixels?level=${level}&frame=${frame}`, {
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`Image ${image.id}: the server answered ${response.status}`);
  const rows = Number(response.headers.get("X-Rows"));
  const columns = Number(response.headers.get("X-Columns"));
  const samples = Number(response.headers.get("X-Samples") ?? 1) || 1;
  const dtype = response.headers.get("X-Dtype") ?? (response.headers.get("X-Bits") === "8"
    ? "uint8" : "uint16");
  const buffer = await response.arrayBuffer();
  entry.rows = rows;
  entry.columns = columns;
  const pixels = typed(buffer, dtype);
  const [min, max] = extent(pixels);
  const [sx, sy] = levelSpacing(entry);
  const color = samples === 3;
  const voxelManager = utilities.VoxelManager.createImageVoxelManager({
    width: columns,
    height: rows,
    scalarData: pixels,
    numberOfComponents: samples,
    id: imageId,
  });
  const wc = image.window_center ?? (min + max) / 2;
  const ww = image.window_width ?? Math.max(1, max - min);
  const result = {
    imageId,
    minPixelValue: min,
    maxPixelValue: max,
    slope: 1,
    intercept: 0,
    windowCenter: color ? 127.5 : wc,
    windowWidth: color ? 255 : ww,
    voiLUTFunction: Enums.VOILUTFunctionType.LINEAR,
    getPixelData: () => voxelManager.getScalarData(),
    getCanvas: undefined as unknown as () => HTMLCanvasElement,
    rows,
    columns,
    height: rows,
    width: columns,
    color,
    rgba: false,
    numberOfComponents: samples,
    columnPixelSpacing: sx,
    rowPixelSpacing: sy,
    invert: image.photometric_interpretation === "MONOCHROME1",
    photometricInterpretation: color ? "RGB" : image.photometric_interpretation,
    sizeInBytes: buffer.byteLength,
    dataType: pixels.constructor.name as Types.PixelDataTypedArrayString,
    voxelManager,
    FrameOfReferenceUID: `senolab.image.${image.id}`,
  } as unknown as Types.IImage;
  return result;
}

function loadSenolabImage(imageId: string): { promise: Promise<Types.IImage> } {
  const entry = registry.get(imageId);
  if (!entry) return { promise: Promise.reject(new Error(`Unknown image ${imageId}`)) };
  return { promise: fetchImage(imageId, entry) };
}

/** Whether this browser gives a WebGL2 context (headless Chromium without a GPU may not). */
export function hasWebGL(): boolean {
  try {
    const canvas = document.createElement("canvas");
    return !!canvas.getContext("webgl2");
  } catch {
    return false;
  }
}

/** Start Cornerstone once per page: core, tools, the loader and its metadata; CPU rendering
 * where the browser has no WebGL2 (or when the page asks for it with ?cpu=1). */
export function startCornerstone(): Promise<void> {
  started ??= (async () => {
    const forceCpu = new URLSearchParams(location.search).get("cpu") === "1";
    initCore();
    if (forceCpu || !hasWebGL()) setUseCPURendering(true);
    initTools();
    metaData.addProvider(metadataProvider, 10000);
    imageLoader.registerImageLoader(SCHEME, loadSenolabImage as unknown as Types.ImageLoaderFn);
  })();
  return started;
}
