/** Segmentation masks: brush and eraser paint a Cornerstone labelmap (one per viewport, one
 * segment per mask mark), and each painted segment is saved as a mask mark of a finding
 * (a PNG of its bounding box, `mask_png_base64`); stored masks are read back from
 * /api/marks/{id}/mask.png into their segment. */

import { cache, eventTarget, imageLoader } from "@cornerstonejs/core";
import { Enums as ToolEnums, segmentation } from "@cornerstonejs/tools";
import type { FindingStore } from "../findings/store";
import type { Mark } from "../findings/types";
import type { ViewerGrid, ViewportHandle } from "./grid";
import { cropSegment, decodeMaskPng, encodeMaskPng, pasteSegment, segmentBox, type Box } from "./maskPng";
import { sameGeometry } from "./marks";

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
  /** The PNG last sent or painted (an echo of it from the store is not repainted). */
  png: string | null;
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
  private pending: Segment | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private painting = 0;
  private referenceShown = true;
  /** The segmentation a stroke is painting now (the primary button is down in its viewport). */
  private stroke: string | null = null;
  private loading: Promise<void> = Promise.resolve();

  constructor(
    private readonly grid: ViewerGrid,
    private readonly store: FindingStore,
    private readonly options: MaskLayerOptions,
  ) {
    // A stroke is saved once, when the pointer is released: the brush paints every move into the
    // labelmap (Cornerstone), and the mask is measured and encoded as a PNG only at the end.
    // (Encoding on every pause of the pointer cost about 1.5 s a move: the issue 16 defect 3.)
    eventTarget.addEventListener(ToolEnums.Events.SEGMENTATION_DATA_MODIFIED, (evt: Event) => {
      const id = (evt as CustomEvent).detail?.segmentationId as string | undefined;
      if (this.painting || !id || this.stroke === id) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.collect(id), 250);
    });
    const strokeEnd = () => {
      const id = this.stroke;
      if (!id) return;
      this.stroke = null;
      if (this.timer) clearTimeout(this.timer);
      // After the tool's own pointer-up handling (its last dab of paint).
      this.timer = setTimeout(() => this.collect(id), 0);
    };
    document.addEventListener("pointerup", strokeEnd);
    document.addEventListener("pointercancel", strokeEnd);
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
    // The brush paints into the segment of the mark being edited: choose it before the stroke.
    handle.host.addEventListener(
      "pointerdown",
      (evt) => {
        if (evt.button !== 0) return;
        this.beforeStroke(labelmap);
        this.stroke = labelmap.segmentationId;
      },
      { capture: true },
    );
    return labelmap;
  }

  private frameIndexOf(labelmap: Labelmap): number {
    return this.grid.viewport(labelmap.handle).getCurrentImageIdIndex();
  }

  private freeSegment(labelmap: Labelmap): number {
    const used = new Set(this.segments.filter((s) => s.labelmap === labelmap).map((s) => s.segment));
    for (let i = 1; i < 256; i++) if (!used.has(i)) return i;
    return 255;
  }

  private beforeStroke(labelmap: Labelmap): void {
    const frameIndex = this.frameIndexOf(labelmap);
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
          count: 0,
        };
        this.pending = target;
        this.segments.push(target);
      }
    }
    segmentation.segmentIndex.setActiveSegmentIndex(labelmap.segmentationId, target.segment);
    segmentation.activeSegmentation.setActiveSegmentation(labelmap.handle.viewportId, labelmap.segmentationId);
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
  private collect(segmentationId: string): void {
    const labelmap = [...this.labelmaps.values()].find((l) => l.segmentationId === segmentationId);
    if (!labelmap) return;
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
    const mark: Mark = {
      image: frame.image.id,
      frame: frame.frame,
      kind: "mask",
      geometry: { ...box },
      mask_png_base64: png,
    };
    if (seg.findingKey && seg.markKey && this.store.get(seg.findingKey)) {
      this.store.updateMark(seg.findingKey, seg.markKey, { geometry: mark.geometry, mask_png_base64: png }, {
        coalesce: `mask-${seg.markKey}`,
      });
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
          geometry: null, png: null, count: -1,
        };
        this.segments.push(seg);
      }
      seg.findingKey = findingKey;
      if (this.store.get(findingKey)?.source === "reference") {
        // Imported ground truth: shown, never painted over by the brush.
        segmentation.segmentLocking.setSegmentIndexLocked(seg.labelmap.segmentationId, seg.segment, true);
      }
      const echo = mark.mask_png_base64 ? mark.mask_png_base64 === seg.png : true;
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
      const source = mark.mask_png_base64 ?? mark.mask_url ?? (mark.id ? `/api/marks/${mark.id}/mask.png` : "");
      if (!source) return;
      const decoded = await decodeMaskPng(source);
      const g = mark.geometry as Partial<Box>;
      box = { x: Number(g.x ?? 0), y: Number(g.y ?? 0), width: decoded.width, height: decoded.height };
      crop = decoded.crop;
      seg.png = mark.mask_png_base64 ?? seg.png;
      seg.geometry = { ...mark.geometry };
    }
    this.painting += 1;
    try {
      seg.count = pasteSegment(labels.data, labels.columns, labels.rows, box, crop, seg.segment);
      segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(seg.labelmap.segmentationId);
    } finally {
      this.painting -= 1;
    }
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
