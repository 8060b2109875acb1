/** Segmentation masks: the brush and the eraser paint a Cornerstone labelmap (one per viewport,
 * one segment per mask mark), and each painted segment is saved as a mask mark of a finding
 * (a PNG of its bounding box, `mask_png_base64`); stored masks are read back from
 * /api/marks/{id}/mask.png into their segment.
 *
 * A stroke is drawn on the viewport's brush overlay while the button is down (brushOverlay.ts)
 * and written into the labelmap once, when it ends (strokeRaster.ts); then the segments it
 * changed are measured, encoded and saved, one PNG each. */

import { cache, imageLoader, type Types } from "@cornerstonejs/core";
import { Enums as ToolEnums, segmentation } from "@cornerstonejs/tools";
import type { FindingStore } from "../findings/store";
import type { Mark } from "../findings/types";
import { BrushOverlay, type PaintedStroke, type PaintMode } from "./brushOverlay";
import type { ViewerGrid, ViewportHandle } from "./grid";
import { cropSegment, decodeMaskPng, encodeMaskPng, pasteSegment, segmentBox, type Box } from "./maskPng";
import { sameGeometry } from "./marks";
import { paintStroke } from "./strokeRaster";
import type { ToolName } from "./tools";

interface Labelmap {
  handle: ViewportHandle;
  segmentationId: string;
  /** Labelmap imageIds, one per frame of the viewport. */
  imageIds: string[];
}

interface Segment {
  labelmap: Labelmap;
  frameIndex: number;
  segment: number;
  findingKey: string | null;
  markKey: string | null;
  geometry: Record<string, unknown> | null;
  /** What the segment shows: the PNG last sent or painted, or else the address it was read
   * from (an echo of either from the store is not repainted). */
  png: string | null;
  url: string | null;
  count: number;
}

export interface MaskLayerOptions {
  selected: () => string | null;
  onSelect: (key: string) => void;
  /** Whether the next new mask joins the selected finding (and turns the link mode off). */
  takeLink: () => boolean;
}

export class MaskLayer {
  private readonly labelmaps = new Map<ViewportHandle, Labelmap>();
  private readonly segments: Segment[] = [];
  private readonly overlays: BrushOverlay[] = [];
  private pending: Segment | null = null;
  private referenceShown = true;
  /** The tool on the primary button when it paints. */
  private mode: PaintMode | null = null;
  /** Where the stroke under way goes: its frame, and for the brush its segment. */
  private strokeTarget: { frameIndex: number; segment: Segment | null } | null = null;
  private loading: Promise<void> = Promise.resolve();

  constructor(
    private readonly grid: ViewerGrid,
    private readonly store: FindingStore,
    private readonly options: MaskLayerOptions,
  ) {
    store.on("change", () => this.sync());
    grid.onFullRes((handle) => {
      this.ensure(handle);
      this.sync();
    });
  }

  /** The viewport's labelmap, made once its level-0 images are on screen. */
  private ensure(handle: ViewportHandle): Labelmap | null {
    const existing = this.labelmaps.get(handle);
    if (existing) return existing;
    if (!handle.fullRes || handle.frames.length === 0) return null;
    const derived = imageLoader.createAndCacheDerivedLabelmapImages(handle.imageIds);
    const labelmap: Labelmap = {
      handle,
      segmentationId: `seg-${handle.viewportId}`,
      imageIds: derived.map((image) => image.imageId),
    };
    segmentation.addSegmentations([
      {
        segmentationId: labelmap.segmentationId,
        representation: {
          type: ToolEnums.SegmentationRepresentations.Labelmap,
          data: { imageIds: labelmap.imageIds },
        },
      },
    ]);
    segmentation.addLabelmapRepresentationToViewport(handle.viewportId, [
      { segmentationId: labelmap.segmentationId },
    ]);
    this.labelmaps.set(handle, labelmap);
    this.overlays.push(
      new BrushOverlay(handle, () => this.grid.viewport(handle), {
        mode: () => this.mode,
        begin: (mode) => this.beginStroke(labelmap, mode),
        end: (stroke) => this.endStroke(labelmap, stroke),
      }),
    );
    return labelmap;
  }

  /** The toolbar's tool: the brush and the eraser paint here, any other tool leaves the masks. */
  setTool(tool: ToolName): void {
    this.mode = tool === "brush" || tool === "eraser" ? tool : null;
    for (const overlay of this.overlays) overlay.refresh();
  }

  /** A stroke begins in a viewport: its frame and, for the brush, its segment; the colour it is
   * drawn in (null: nothing to paint here yet). */
  private beginStroke(labelmap: Labelmap, mode: PaintMode): Types.Color | null {
    const frameIndex = this.frameIndexOf(labelmap);
    if (!this.labels(labelmap, frameIndex)) return null;
    const segment = mode === "brush" ? this.targetSegment(labelmap, frameIndex) : null;
    this.strokeTarget = { frameIndex, segment };
    if (!segment) return [0, 0, 0, 255];
    return (
      segmentation.config.color.getSegmentIndexColor(labelmap.handle.viewportId, labelmap.segmentationId, segment.segment) ??
      [255, 255, 255, 255]
    );
  }

  /** The stroke ends: written into the labelmap once, then every segment it changed is saved. */
  private endStroke(labelmap: Labelmap, stroke: PaintedStroke): void {
    const target = this.strokeTarget;
    this.strokeTarget = null;
    if (!target) return;
    const labels = this.labels(labelmap, target.frameIndex);
    if (!labels) return;
    const painted = paintStroke(labels.data, labels.columns, labels.rows, stroke.points, {
      radiusX: stroke.radiusX,
      radiusY: stroke.radiusY,
      value: stroke.mode === "brush" && target.segment ? target.segment.segment : 0,
      // Imported ground truth is shown, never painted over or erased.
      locked: new Set(segmentation.segmentLocking.getLockedSegmentIndices(labelmap.segmentationId)),
    });
    if (!painted.changed) return;
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(labelmap.segmentationId);
    this.collect(labelmap);
  }

  private frameIndexOf(labelmap: Labelmap): number {
    return this.grid.viewport(labelmap.handle).getCurrentImageIdIndex();
  }

  private freeSegment(labelmap: Labelmap): number {
    const used = new Set(this.segments.filter((s) => s.labelmap === labelmap).map((s) => s.segment));
    for (let i = 1; i < 256; i++) if (!used.has(i)) return i;
    return 255;
  }

  /** The brush paints into the segment of the selected finding's mask on this frame, else into
   * a new one (kept as `pending` until the stroke makes it a finding). */
  private targetSegment(labelmap: Labelmap, frameIndex: number): Segment {
    const selected = this.options.selected();
    const mine = this.segments.find(
      (s) => s.labelmap === labelmap && s.frameIndex === frameIndex && s.findingKey === selected && selected,
    );
    let target = mine;
    if (!target) {
      if (this.pending && this.pending.labelmap === labelmap && this.pending.frameIndex === frameIndex) {
        target = this.pending;
      } else {
        target = {
          labelmap,
          frameIndex,
          segment: this.freeSegment(labelmap),
          findingKey: null,
          markKey: null,
          geometry: null,
          png: null,
          url: null,
          count: 0,
        };
        this.pending = target;
        this.segments.push(target);
      }
    }
    return target;
  }

  private labels(labelmap: Labelmap, frameIndex: number) {
    const image = cache.getImage(labelmap.imageIds[frameIndex]!);
    if (!image?.voxelManager) return null;
    return {
      data: image.voxelManager.getScalarData() as Uint8Array,
      columns: image.columns,
      rows: image.rows,
    };
  }

  /** After a stroke: every segment of the labelmap that changed becomes a saved mask mark. */
  private collect(labelmap: Labelmap): void {
    for (const seg of this.segments.filter((s) => s.labelmap === labelmap)) {
      const labels = this.labels(labelmap, seg.frameIndex);
      if (!labels) continue;
      const box = segmentBox(labels.data, labels.columns, labels.rows, seg.segment);
      const count = box ? countOf(labels.data, seg.segment) : 0;
      const geometry = box ? { ...box } : null;
      if (seg.count === count && geometry && seg.geometry && sameGeometry(geometry, seg.geometry)) continue;
      this.save(seg, labels, box, count);
    }
  }

  private save(seg: Segment, labels: { data: Uint8Array; columns: number }, box: Box | null, count: number): void {
    seg.count = count;
    const frame = seg.labelmap.handle.frames[seg.frameIndex]!;
    if (!box) {
      if (seg.findingKey && seg.markKey && this.store.get(seg.findingKey)) {
        this.store.removeMark(seg.findingKey, seg.markKey);
      }
      seg.geometry = null;
      seg.markKey = null;
      return;
    }
    const crop = cropSegment(labels.data, labels.columns, box, seg.segment);
    const png = encodeMaskPng(crop, box.width, box.height);
    seg.geometry = { ...box };
    seg.png = png;
    seg.url = null;
    const mark: Mark = {
      image: frame.image.id,
      frame: frame.frame,
      kind: "mask",
      geometry: { ...box },
      mask_png_base64: png,
    };
    if (seg.findingKey && seg.markKey && this.store.get(seg.findingKey)) {
      // One stroke, one undo step.
      this.store.updateMark(seg.findingKey, seg.markKey, { geometry: mark.geometry, mask_png_base64: png });
      return;
    }
    const selected = this.options.selected();
    if (selected && this.store.get(selected) && this.options.takeLink()) {
      seg.findingKey = selected;
      seg.markKey = this.store.addMark(selected, mark);
    } else {
      seg.findingKey = this.store.create({ laterality: seg.labelmap.handle.slotInfo.laterality, marks: [mark] });
      seg.markKey = this.store.get(seg.findingKey)?.marks[0]?.key ?? null;
    }
    if (this.pending === seg) this.pending = null;
    this.options.onSelect(seg.findingKey);
  }

  /** Paint or clear the reference findings' masks (the panel's Reference toggle). */
  setReferenceShown(shown: boolean): void {
    if (shown === this.referenceShown) return;
    this.referenceShown = shown;
    this.sync();
  }

  /** Paint the store's mask marks into their segments (load, undo, redo, a conflict taken). */
  sync(): void {
    this.loading = this.loading.then(() => this.syncNow()).catch((err) => console.error(err));
  }

  private async syncNow(): Promise<void> {
    const wanted = new Map<string, { findingKey: string; mark: Mark }>();
    for (const finding of this.store.findings()) {
      if (!this.referenceShown && finding.source === "reference") continue;
      for (const mark of finding.marks) {
        if (mark.kind === "mask" && mark.key && mark.image) wanted.set(mark.key, { findingKey: finding.key, mark });
      }
    }
    // Segments whose mark is gone (undo of a new mask, a deleted finding) are cleared.
    for (const seg of [...this.segments]) {
      if (!seg.markKey || wanted.has(seg.markKey)) continue;
      if (seg === this.pending) continue;
      await this.paint(seg, null);
      this.segments.splice(this.segments.indexOf(seg), 1);
    }
    for (const [markKey, { findingKey, mark }] of wanted) {
      let seg = this.segments.find((s) => s.markKey === markKey);
      if (!seg) {
        const handle = this.grid.handles.find((h) => h.fullRes && h.frames.some((f) => f.image.id === mark.image));
        const labelmap = handle ? this.ensure(handle) : null;
        if (!handle || !labelmap) continue;
        const frameIndex = handle.frames.findIndex((f) => f.image.id === mark.image && f.frame === (mark.frame ?? 0));
        if (frameIndex < 0) continue;
        seg = {
          labelmap, frameIndex, segment: this.freeSegment(labelmap), findingKey, markKey,
          geometry: null, png: null, url: null, count: -1,
        };
        this.segments.push(seg);
      }
      seg.findingKey = findingKey;
      if (this.store.get(findingKey)?.source === "reference") {
        // Imported ground truth: shown, never painted over by the brush.
        segmentation.segmentLocking.setSegmentIndexLocked(seg.labelmap.segmentationId, seg.segment, true);
      }
      // The store knows the pixels of the masks saved or read here (also after an undo or redo
      // across saves, where the mark names an earlier file); others are known by address.
      const known = this.store.maskImage(mark);
      const echo = known ? known === seg.png : (mark.mask_url ?? null) === seg.url;
      if (seg.geometry && sameGeometry(seg.geometry, mark.geometry) && echo) continue;
      await this.paint(seg, mark);
    }
  }

  private async paint(seg: Segment, mark: Mark | null): Promise<void> {
    const labels = this.labels(seg.labelmap, seg.frameIndex);
    if (!labels) return;
    let crop: ArrayLike<number> = [];
    let box: Box = { x: 0, y: 0, width: 0, height: 0 };
    if (mark) {
      const known = this.store.maskImage(mark);
      const source = known ?? mark.mask_url ?? (mark.id ? `/api/marks/${mark.id}/mask.png` : "");
      if (!source) return;
      const decoded = await decodeMaskPng(source);
      const g = mark.geometry as Partial<Box>;
      box = { x: Number(g.x ?? 0), y: Number(g.y ?? 0), width: decoded.width, height: decoded.height };
      crop = decoded.crop;
      seg.png = known ?? null;
      seg.url = mark.mask_url ?? null;
      seg.geometry = { ...mark.geometry };
    }
    seg.count = pasteSegment(labels.data, labels.columns, labels.rows, box, crop, seg.segment);
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(seg.labelmap.segmentationId);
  }

  /** Show or hide the masks with the other marks. */
  setVisible(visible: boolean): void {
    for (const labelmap of this.labelmaps.values()) {
      segmentation.config.visibility.setSegmentationRepresentationVisibility(
        labelmap.handle.viewportId,
        { segmentationId: labelmap.segmentationId, type: ToolEnums.SegmentationRepresentations.Labelmap },
        visible,
      );
    }
  }
}

function countOf(data: ArrayLike<number>, segment: number): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === segment) n++;
  return n;
}
