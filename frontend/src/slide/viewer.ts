/** OpenSeadragon over the platform's Deep Zoom tiles, with the annotation layer and the drawing
 * tools wired to its pointer events (so wheel zoom and drag-pan keep working while drawing).
 *
 * The element `[data-testid=slide-viewer]` carries `data-ready="true"` once tiles are drawn,
 * `data-fully-loaded` for the current view, `data-zoom` (screen pixels per slide pixel) and
 * `data-center` ("x,y" in slide pixels), which tests can wait on after a pan or zoom. */

import OpenSeadragon from "openseadragon";
import type { FindingView } from "../findings/store";
import type { Mark } from "../findings/types";
import { translate, type Pt } from "./geometry";
import { SlideOverlay, type ViewTransform } from "./overlay";
import { DrawingController, type Drawn, type SlideTool } from "./tools";

export interface SlideInfo {
  id: number;
  project: number;
  exam: number;
  width: number;
  height: number;
  levels: { width: number; height: number; downsample: number }[];
  mpp_x: number | null;
  mpp_y: number | null;
  objective_power: number | null;
  vendor: string;
  format: string;
  dzi_url: string;
  /** Where this user's tiles are: a signed path that expires (hourly), see docs/security.md. */
  tiles_url: string;
}

/** The Deep Zoom descriptor as OpenSeadragon's JSON form, pointing at the tiles/ URLs (the
 * XML's default of "<name>_files/" is not where the platform serves them). */
export function dziTileSource(xml: string, tilesUrl: string): object {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const image = doc.documentElement;
  const size = image.getElementsByTagName("Size")[0] ?? image.getElementsByTagNameNS("*", "Size")[0];
  if (image.localName !== "Image" || !size) throw new Error("The slide's Deep Zoom descriptor is not readable.");
  return {
    Image: {
      xmlns: "http://schemas.microsoft.com/deepzoom/2008",
      Url: tilesUrl,
      Format: image.getAttribute("Format") ?? "jpeg",
      Overlap: image.getAttribute("Overlap") ?? "0",
      TileSize: image.getAttribute("TileSize") ?? "256",
      Size: { Width: size.getAttribute("Width"), Height: size.getAttribute("Height") },
    },
  };
}

export interface SlideViewerHooks {
  findings: () => FindingView[];
  selected: () => string | null;
  onDrawn: (drawn: Drawn) => void;
  onPick: (findingKey: string, mark: Mark) => void;
  /** The selected finding's mark was dragged to a new place (geometry in slide pixels). */
  onMoveMark?: (findingKey: string, mark: Mark, geometry: Record<string, unknown>, done: boolean) => void;
  onToolChange?: (tool: SlideTool) => void;
}

export class SlideViewer {
  readonly el: HTMLElement;
  readonly viewer: OpenSeadragon.Viewer;
  readonly drawing: DrawingController;
  private readonly overlay: SlideOverlay;
  private readonly info: HTMLElement;
  private cursor: Pt | null = null;

  /** Tiles asked for from now on come from this base URL (a freshly signed tiles_url); those
   * already loaded stay. */
  setTilesUrl(url: string): void {
    const source = this.viewer.world.getItemAt(0)?.source as { tilesUrl?: string } | undefined;
    if (source) source.tilesUrl = url;
  }

  constructor(
    stage: HTMLElement,
    readonly slide: SlideInfo,
    tileSource: object,
    private readonly hooks: SlideViewerHooks,
  ) {
    this.el = document.createElement("div");
    this.el.className = "slide-viewer";
    this.el.dataset.testid = "slide-viewer";
    this.el.dataset.slideId = String(slide.id);
    this.el.dataset.ready = "false";
    this.overlay = new SlideOverlay(
      (key, mark) => hooks.onPick(key, mark),
      (key, mark, dx, dy, done) => {
        const { scale } = this.transform();
        const size = { width: slide.width, height: slide.height };
        hooks.onMoveMark?.(key, mark, translate(mark, dx / scale, dy / scale, size), done);
      },
      (e) => this.viewer.canvas.dispatchEvent(new WheelEvent("wheel", e)),
    );
    this.info = document.createElement("div");
    this.info.className = "slide-info";
    stage.append(this.el, this.overlay.el, this.info);

    this.viewer = OpenSeadragon({
      element: this.el,
      tileSources: tileSource as OpenSeadragon.TileSourceOptions,
      showNavigationControl: false,
      showNavigator: true,
      navigatorPosition: "TOP_RIGHT",
      navigatorBackground: "#000",
      navigatorBorderColor: "#2c3138",
      navigatorDisplayRegionColor: "#4fa3ff",
      animationTime: 0.4,
      maxZoomPixelRatio: 4,
      visibilityRatio: 0.5,
      minZoomImageRatio: 0.5,
      imageLoaderLimit: 8,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: false, flickEnabled: false },
      keyboardNavEnabled: false,
    } as OpenSeadragon.Options);

    this.drawing = new DrawingController(
      { width: slide.width, height: slide.height },
      (drawn) => hooks.onDrawn(drawn),
      () => this.redraw(),
      () => 1 / Math.max(this.transform().scale, 1e-6),
    );
    this.wire();
  }

  private wire(): void {
    const v = this.viewer;
    const at = (position: OpenSeadragon.Point) => {
      const p = v.viewport.viewerElementToImageCoordinates(position);
      return { x: p.x, y: p.y };
    };
    v.addHandler("canvas-press", (e) => {
      const original = (e as unknown as { originalEvent?: MouseEvent }).originalEvent;
      this.drawing.press(at(e.position), original?.shiftKey ?? false);
    });
    v.addHandler("canvas-drag", (e) => {
      if (this.drawing.drag(at(e.position))) e.preventDefaultAction = true;
    });
    v.addHandler("canvas-release", (e) => {
      this.drawing.release(at(e.position));
    });
    v.addHandler("canvas-click", (e) => {
      if (!e.quick) return;
      if (this.drawing.click(at(e.position), e.shift)) e.preventDefaultAction = true;
    });
    v.addHandler("canvas-double-click", (e) => {
      if (this.drawing.doubleClick()) e.preventDefaultAction = true;
    });
    v.addHandler("canvas-key", (e) => {
      // The page's keyboard map owns the keys (OpenSeadragon would pan on w/a/s/d, rotate on r).
      e.preventDefaultAction = true;
    });
    v.addHandler("open", () => {
      const item = v.world.getItemAt(0);
      item.addHandler("fully-loaded-change", (e) => {
        this.el.dataset.fullyLoaded = String(e.fullyLoaded);
        if (e.fullyLoaded) this.markReady();
      });
      this.redraw();
    });
    v.addHandler("open-failed", (e) => {
      this.el.dataset.error = String(e.message ?? "open failed");
      this.info.textContent = `The slide could not be opened: ${e.message ?? "unknown error"}`;
    });
    v.addHandler("tile-loaded", () => {
      this.el.dataset.tilesLoaded = String(Number(this.el.dataset.tilesLoaded ?? 0) + 1);
      // The WebGL drawer raises no tile-drawn event: a loaded tile is drawn on the next frame.
      requestAnimationFrame(() => requestAnimationFrame(() => this.markReady()));
    });
    v.addHandler("update-viewport", () => this.redraw());
    v.addHandler("resize", () => this.redraw());
    this.el.addEventListener("pointermove", (e) => {
      const rect = this.el.getBoundingClientRect();
      this.cursor = at(new OpenSeadragon.Point(e.clientX - rect.left, e.clientY - rect.top));
      this.drawing.move(this.cursor);
      this.showInfo();
    });
  }

  private markReady(): void {
    if (this.el.dataset.ready !== "true") {
      this.el.dataset.ready = "true";
      this.redraw();
    }
  }

  transform(): ViewTransform {
    const vp = this.viewer.viewport;
    if (!this.viewer.world.getItemCount()) return { toScreen: (p) => p, scale: 1 };
    const o = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const u = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(1000, 0));
    const scale = (u.x - o.x) / 1000;
    return { toScreen: (p) => ({ x: o.x + p.x * scale, y: o.y + p.y * scale }), scale };
  }

  setTool(tool: SlideTool): void {
    this.drawing.setTool(tool);
    this.el.dataset.tool = tool;
    this.el.style.cursor = tool === "pan" ? "" : "crosshair";
    // While a drawing tool is on, presses on marks draw (they do not select or move).
    this.overlay.el.classList.toggle("tool-active", tool !== "pan");
    this.hooks.onToolChange?.(tool);
  }

  /** Redraw the annotation layer now. OpenSeadragon raises update-viewport once per frame it
   * draws, so drawing here keeps the marks in step with the tiles (a requestAnimationFrame of
   * our own lags a frame behind, and far more on a busy software-rendered machine). */
  redraw(): void {
    const view = this.transform();
    this.overlay.render(this.hooks.findings(), this.hooks.selected(), this.drawing.draft, view);
    const centre = this.viewer.world.getItemCount()
      ? this.viewer.viewport.viewportToImageCoordinates(this.viewer.viewport.getCenter(true))
      : null;
    this.el.dataset.zoom = view.scale.toFixed(4);
    if (centre) this.el.dataset.center = `${Math.round(centre.x)},${Math.round(centre.y)}`;
    this.showInfo();
  }

  private showInfo(): void {
    if (this.el.dataset.error) return;
    const { scale } = this.transform();
    const mpp = this.slide.mpp_x;
    const parts = [`${(scale * 100).toFixed(scale < 0.1 ? 1 : 0)}%`];
    if (mpp && this.slide.objective_power) parts.push(`≈${(this.slide.objective_power * scale).toFixed(1)}×`);
    if (this.cursor) {
      const { x, y } = this.cursor;
      parts.push(`x ${Math.round(x)} y ${Math.round(y)} px`);
      if (mpp) parts.push(`(${((x * mpp) / 1000).toFixed(2)}, ${((y * (this.slide.mpp_y ?? mpp)) / 1000).toFixed(2)} mm)`);
    }
    if (this.drawing.draft?.kind === "polygon") parts.push("click the first point, double-click or Enter to close");
    this.info.textContent = parts.join("  ·  ");
  }

  /** Centre the view on a slide point (zooming in if the view is far out). */
  panTo(p: Pt): void {
    const vp = this.viewer.viewport;
    vp.panTo(vp.imageToViewportCoordinates(new OpenSeadragon.Point(p.x, p.y)));
  }

  zoomBy(factor: number): void {
    this.viewer.viewport.zoomBy(factor);
    this.viewer.viewport.applyConstraints();
  }

  home(): void {
    this.viewer.viewport.goHome();
  }

  destroy(): void {
    this.viewer.destroy();
  }
}
