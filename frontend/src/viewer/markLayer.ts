/** The reader's marks on the viewports, kept in step with the FindingStore both ways:
 * a drawn or edited Cornerstone annotation becomes a mark of a finding (autosaved by the store),
 * and every change of the store (load, undo, redo, a conflict resolved) redraws the marks.
 * Reference findings (imported ground truth) are drawn locked, in their own colour. */

import { eventTarget, getRenderingEngine, type Types } from "@cornerstonejs/core";
import {
  annotation as csAnnotation,
  cancelActiveManipulations,
  Enums as ToolEnums,
  EllipticalROITool,
  LengthTool,
  ProbeTool,
  RectangleROITool,
  SplineROITool,
  type Types as ToolTypes,
} from "@cornerstonejs/tools";
import type { FindingStore, FindingView } from "../findings/store";
import type { Mark } from "../findings/types";
import type { ViewerGrid, ViewportHandle } from "./grid";
import { imageIdFor, lookup, planeZ, spacingOf } from "./loader";
import { annotationToMark, markToPoints, sameGeometry, TOOL_OF_KIND, type Frame, type Point3 } from "./marks";
import type { ViewerTools } from "./tools";
import type { ImageInfo } from "./types";

const PALETTE = ["#ffd54a", "#5fd38d", "#ff8a65", "#4fc3f7", "#ce93d8", "#aed581", "#f48fb1"];
const REFERENCE_COLOR = "#8fa8c8";
const SELECTED_COLOR = "#ffffff";
/** A box or an ellipse is drawn by one drag at least this long on each side (screen pixels):
 * a click, two clicks or a twitch of the hand make nothing. */
export const MIN_DRAG_PX = 5;
/** The tools whose marks need one press-drag-release (Cornerstone also lets them be drawn by a
 * click, a move and a second click: a stray pair of clicks would make a finding). */
const DRAG_TOOLS = new Set([RectangleROITool.toolName, EllipticalROITool.toolName]);

interface Link {
  findingKey: string;
  markKey: string;
  imageId: string;
  geometry: Record<string, unknown>;
}

type Hydrate = (viewportId: string, points: Types.Point3[], options: Record<string, unknown>) => unknown;

const HYDRATE: Record<string, Hydrate> = {
  RectangleROI: RectangleROITool.hydrate as unknown as Hydrate,
  EllipticalROI: EllipticalROITool.hydrate as unknown as Hydrate,
  Length: LengthTool.hydrate as unknown as Hydrate,
  Point: ProbeTool.hydrate as unknown as Hydrate,
  Polygon: SplineROITool.hydrate as unknown as Hydrate,
};

export function frameOf(image: ImageInfo, frame: number): Frame {
  return { spacing: spacingOf(image), columns: image.columns, rows: image.rows, z: planeZ(image, frame) };
}

function uid(): string {
  return `m-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
}

export interface MarkLayerOptions {
  /** Called when the reader picks a finding by clicking one of its marks. */
  onSelect?: (findingKey: string) => void;
  /** The finding new marks join when "link to view" is on (the selected one). */
  selected?: () => string | null;
}

export class MarkLayer {
  private readonly links = new Map<string, Link>();
  private muted = 0;
  private visible = true;
  private referenceShown = true;
  /** The next drawn mark joins the selected finding instead of starting a new one. */
  linkMode = false;
  private readonly off: (() => void)[] = [];
  /** Presses of the primary button in a viewport, counted; the press that began each new
   * box or ellipse (by annotation UID). */
  private presses = 0;
  private pressed = false;
  private readonly startedBy = new Map<string, number>();

  constructor(
    private readonly grid: ViewerGrid,
    private readonly tools: ViewerTools,
    private readonly store: FindingStore,
    private readonly options: MarkLayerOptions = {},
  ) {
    const on = (name: string, fn: (evt: Event) => void) => {
      eventTarget.addEventListener(name, fn);
      this.off.push(() => eventTarget.removeEventListener(name, fn));
    };
    on(ToolEnums.Events.ANNOTATION_ADDED, (evt) => this.added(evt));
    on(ToolEnums.Events.ANNOTATION_COMPLETED, (evt) => this.completed(evt));
    on(ToolEnums.Events.ANNOTATION_MODIFIED, (evt) => this.modified(evt));
    on(ToolEnums.Events.ANNOTATION_REMOVED, (evt) => this.removed(evt));
    on(ToolEnums.Events.ANNOTATION_SELECTION_CHANGE, () => this.selectionChanged());
    const released = () => {
      this.pressed = false;
    };
    document.addEventListener("pointerup", released);
    document.addEventListener("pointercancel", released);
    this.off.push(() => {
      document.removeEventListener("pointerup", released);
      document.removeEventListener("pointercancel", released);
    });
    this.off.push(store.on("change", () => this.sync()));
    grid.onFullRes(() => this.sync());
  }

  /** Where an imageId is shown now, and its image and frame. */
  private place(imageId: string): { handle: ViewportHandle; image: ImageInfo; frame: number } | null {
    const entry = lookup(imageId);
    if (!entry) return null;
    const handle = this.grid.handles.find((h) => h.frames.some((f) => f.image.id === entry.image.id));
    return handle ? { handle, image: entry.image, frame: entry.frame } : null;
  }

  /** Count the presses of the primary button in a viewport (capture: before the tools). */
  watch(handle: ViewportHandle): void {
    let down: { x: number; y: number } | null = null;
    handle.host.addEventListener(
      "pointerdown",
      (evt) => {
        if (evt.button !== 0) return;
        this.presses += 1;
        this.pressed = true;
        down = { x: evt.clientX, y: evt.clientY };
      },
      { capture: true },
    );
    // A click with the box or ellipse tool leaves Cornerstone drawing a shape that follows the
    // pointer until the next click: drop it at once.
    handle.host.addEventListener("pointerup", (evt) => {
      if (evt.button !== 0 || !down) return;
      const still = Math.abs(evt.clientX - down.x) < MIN_DRAG_PX && Math.abs(evt.clientY - down.y) < MIN_DRAG_PX;
      down = null;
      if (still && (this.tools.active === "box" || this.tools.active === "ellipse")) {
        setTimeout(() => this.cancelDrawing(), 0);
      }
    });
  }

  private added(evt: Event): void {
    const annotation = (evt as CustomEvent).detail?.annotation as ToolTypes.Annotation | undefined;
    const uid = annotation?.annotationUID;
    if (!uid || this.muted || !DRAG_TOOLS.has(annotation.metadata?.toolName ?? "")) return;
    this.startedBy.set(uid, this.presses);
    // Begun with the button already up: a click (Cornerstone holds a click back while it waits
    // for a double click, so the tool may even be one chosen after the click). Cornerstone would
    // draw it click-move-click; drop it so that the next press starts a box of its own.
    if (!this.pressed) setTimeout(() => this.cancelDrawing(), 0);
  }

  /** Whether a new box or ellipse was drawn by one drag of at least MIN_DRAG_PX each side. */
  private dragged(annotation: ToolTypes.Annotation, handle: ViewportHandle): boolean {
    if (!DRAG_TOOLS.has(annotation.metadata?.toolName ?? "")) return true;
    const started = this.startedBy.get(annotation.annotationUID!);
    this.startedBy.delete(annotation.annotationUID!);
    // Finished by a later press than the one that began it: click, move, click.
    if (started === undefined || started !== this.presses) return false;
    const viewport = this.grid.viewport(handle);
    const points = ((annotation.data as { handles?: { points?: Types.Point3[] } }).handles?.points ?? [])
      .map((p) => viewport.worldToCanvas(p));
    if (points.length < 2) return false;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    return Math.max(...xs) - Math.min(...xs) >= MIN_DRAG_PX && Math.max(...ys) - Math.min(...ys) >= MIN_DRAG_PX;
  }

  /** Escape: drop the shape being drawn (nothing is made of it). Returns whether one was. */
  cancelDrawing(): boolean {
    let cancelled = false;
    this.quietly(() => {
      for (const handle of this.grid.handles) {
        let uid: string | undefined;
        try {
          uid = cancelActiveManipulations(handle.element);
        } catch {
          continue; // not an enabled viewport (yet)
        }
        if (!uid) continue;
        cancelled = true;
        this.startedBy.delete(uid);
        if (!this.links.has(uid) && csAnnotation.state.getAnnotation(uid)) csAnnotation.state.removeAnnotation(uid);
      }
    });
    if (cancelled) this.render();
    return cancelled;
  }

  private completed(evt: Event): void {
    const annotation = (evt as CustomEvent).detail?.annotation as ToolTypes.Annotation | undefined;
    if (!annotation?.annotationUID || this.muted || this.links.has(annotation.annotationUID)) return;
    const imageId = annotation.metadata?.referencedImageId;
    const place = imageId ? this.place(imageId) : null;
    if (place && !this.dragged(annotation, place.handle)) {
      this.quietly(() => csAnnotation.state.removeAnnotation(annotation.annotationUID!));
      this.render();
      return;
    }
    const converted = place ? this.convert(annotation, place.image, place.frame) : null;
    if (!place || !converted) {
      this.quietly(() => csAnnotation.state.removeAnnotation(annotation.annotationUID!));
      return;
    }
    const mark: Mark = { image: place.image.id, frame: place.frame, ...converted };
    const target = this.linkMode ? this.options.selected?.() : null;
    let findingKey: string;
    let markKey: string;
    if (target && this.store.get(target)) {
      findingKey = target;
      markKey = this.store.addMark(target, mark);
      this.linkMode = false;
      document.dispatchEvent(new CustomEvent("senolab:link-mode", { detail: false }));
    } else {
      findingKey = this.store.create({ laterality: place.handle.slotInfo.laterality, marks: [mark] });
      markKey = this.store.get(findingKey)?.marks[0]?.key ?? "";
    }
    this.links.set(annotation.annotationUID, {
      findingKey,
      markKey,
      imageId: place.handle.imageIds[place.handle.frames.findIndex((f) => f.image.id === place.image.id && f.frame === place.frame)] ?? imageId!,
      geometry: converted.geometry,
    });
    this.options.onSelect?.(findingKey);
    this.sync();
  }

  private convert(annotation: ToolTypes.Annotation, image: ImageInfo, frame: number) {
    const data = annotation.data as {
      handles?: { points?: Point3[] };
      contour?: { polyline?: Point3[] };
    };
    return annotationToMark(
      {
        toolName: annotation.metadata?.toolName ?? "",
        points: (data.handles?.points ?? []) as Point3[],
        polyline: data.contour?.polyline as Point3[] | undefined,
      },
      frameOf(image, frame),
    );
  }

  private modified(evt: Event): void {
    const annotation = (evt as CustomEvent).detail?.annotation as ToolTypes.Annotation | undefined;
    const link = annotation?.annotationUID ? this.links.get(annotation.annotationUID) : undefined;
    if (!annotation || !link || this.muted) return;
    const place = this.place(link.imageId);
    if (!place) return;
    const converted = this.convert(annotation, place.image, place.frame);
    if (!converted || sameGeometry(converted.geometry, link.geometry)) return;
    link.geometry = converted.geometry;
    this.store.updateMark(link.findingKey, link.markKey, { geometry: converted.geometry }, {
      coalesce: annotation.annotationUID,
    });
  }

  private removed(evt: Event): void {
    const annotation = (evt as CustomEvent).detail?.annotation as ToolTypes.Annotation | undefined;
    const link = annotation?.annotationUID ? this.links.get(annotation.annotationUID) : undefined;
    if (!link || this.muted) return;
    this.links.delete(annotation!.annotationUID!);
    if (this.store.get(link.findingKey)) this.store.removeMark(link.findingKey, link.markKey);
  }

  private selectionChanged(): void {
    const selected = csAnnotation.selection.getAnnotationsSelected() ?? [];
    const link = selected.map((u) => this.links.get(u)).find(Boolean);
    if (link) this.options.onSelect?.(link.findingKey);
  }

  private quietly(fn: () => void): void {
    this.muted += 1;
    try {
      fn();
    } finally {
      this.muted -= 1;
    }
  }

  /** Show or hide the reader's marks (the proposals layer is separate). */
  setVisible(visible: boolean): void {
    this.visible = visible;
    for (const u of this.links.keys()) {
      const a = csAnnotation.state.getAnnotation(u);
      if (a) csAnnotation.visibility.setAnnotationVisibility(u, visible);
    }
    this.render();
  }

  /** Draw or leave out the reference findings' marks (the panel's Reference toggle). */
  setReferenceShown(shown: boolean): void {
    if (shown === this.referenceShown) return;
    this.referenceShown = shown;
    this.sync();
  }

  /** Redraw: every non-mask mark of every finding on a viewport showing its image at full
   * resolution; annotations of removed marks go away. */
  sync(): void {
    const selected = this.options.selected?.() ?? null;
    const wanted = new Map<string, { finding: FindingView; mark: Mark; index: number }>();
    this.store.findings().forEach((finding, index) => {
      if (!this.referenceShown && finding.source === "reference") return;
      for (const mark of finding.marks) {
        if (mark.key && mark.kind !== "mask" && mark.image) wanted.set(mark.key, { finding, mark, index });
      }
    });
    this.quietly(() => {
      const byMark = new Map<string, string>();
      for (const [u, link] of this.links) {
        const want = wanted.get(link.markKey);
        const stale =
          !want ||
          want.finding.key !== link.findingKey ||
          !sameGeometry(want.mark.geometry, link.geometry) ||
          !csAnnotation.state.getAnnotation(u);
        if (stale) {
          if (csAnnotation.state.getAnnotation(u)) csAnnotation.state.removeAnnotation(u);
          this.links.delete(u);
        } else {
          byMark.set(link.markKey, u);
        }
      }
      for (const [markKey, { finding, mark, index }] of wanted) {
        let u = byMark.get(markKey);
        if (!u) u = this.draw(finding, mark) ?? undefined;
        if (u) this.style(u, finding, index, finding.key === selected);
      }
    });
    this.render();
  }

  private draw(finding: FindingView, mark: Mark): string | null {
    const image = this.grid.handles
      .flatMap((h) => h.frames.map((f) => ({ h, ...f })))
      .find((f) => f.image.id === mark.image && f.frame === (mark.frame ?? 0));
    if (!image || !image.h.fullRes) return null;
    const toolName = TOOL_OF_KIND[mark.kind];
    const frame = frameOf(image.image, image.frame);
    const points = markToPoints(mark.kind, mark.geometry, frame);
    if (!toolName || !points) return null;
    const imageId = imageIdFor(image.image, 0, image.frame);
    const annotationUID = uid();
    const toolInstance = this.tools.group.getToolInstance(toolName);
    if (mark.kind === "freehand") {
      this.addFreehand(image.h, imageId, annotationUID, points);
    } else {
      HYDRATE[toolName]?.(image.h.viewportId, points as Types.Point3[], {
        annotationUID,
        referencedImageId: imageId,
        toolInstance,
        ...(mark.kind === "polygon" ? { splineType: "LINEAR" } : {}),
      });
    }
    const made = csAnnotation.state.getAnnotation(annotationUID);
    if (!made) return null;
    if (mark.kind === "polygon") {
      const contour = (made.data as { contour?: { closed?: boolean } }).contour;
      if (contour) contour.closed = true;
    }
    if (finding.source === "reference") csAnnotation.locking.setAnnotationLocked(annotationUID, true);
    if (!this.visible) csAnnotation.visibility.setAnnotationVisibility(annotationUID, false);
    this.links.set(annotationUID, {
      findingKey: finding.key,
      markKey: mark.key!,
      imageId,
      geometry: mark.geometry,
    });
    return annotationUID;
  }

  /** PlanarFreehandROI has no hydrate: build its annotation (a closed contour) directly. */
  private addFreehand(handle: ViewportHandle, imageId: string, annotationUID: string, points: Point3[]): void {
    const viewport = this.grid.viewport(handle);
    const camera = viewport.getCamera();
    const annotation = {
      annotationUID,
      highlighted: false,
      invalidated: true,
      isLocked: false,
      isVisible: true,
      metadata: {
        toolName: "PlanarFreehandROI",
        referencedImageId: imageId,
        FrameOfReferenceUID: viewport.getFrameOfReferenceUID(),
        viewPlaneNormal: camera.viewPlaneNormal,
        viewUp: camera.viewUp,
      },
      data: {
        label: "",
        cachedStats: {},
        handles: {
          points: [],
          activeHandleIndex: null,
          textBox: {
            hasMoved: false,
            worldPosition: [0, 0, 0],
            worldBoundingBox: {
              topLeft: [0, 0, 0],
              topRight: [0, 0, 0],
              bottomLeft: [0, 0, 0],
              bottomRight: [0, 0, 0],
            },
          },
        },
        contour: { polyline: points, closed: true },
      },
    };
    csAnnotation.state.addAnnotation(annotation as unknown as ToolTypes.Annotation, handle.element);
  }

  private style(annotationUID: string, finding: FindingView, index: number, selected: boolean): void {
    const reference = finding.source === "reference";
    const color = selected ? SELECTED_COLOR : reference ? REFERENCE_COLOR : PALETTE[index % PALETTE.length]!;
    csAnnotation.config.style.setAnnotationStyles(annotationUID, {
      color,
      colorHighlighted: SELECTED_COLOR,
      colorSelected: SELECTED_COLOR,
      lineWidth: selected ? 2.5 : 1.5,
      lineDash: reference ? "6,4" : "",
    } as Parameters<typeof csAnnotation.config.style.setAnnotationStyles>[1]);
  }

  private render(): void {
    const engine = getRenderingEngine(this.grid.engine.id);
    for (const handle of this.grid.handles) engine?.getViewport(handle.viewportId)?.render();
  }

  /** How a mark is named in the findings list ("box on R-CC"). */
  describe(mark: Mark): string {
    const handle = this.grid.handles.find((h) => h.frames.some((f) => f.image.id === mark.image));
    return `${mark.kind} on ${handle?.title ?? `image ${mark.image ?? "?"}`}`;
  }

  dispose(): void {
    for (const off of this.off) off();
  }
}
