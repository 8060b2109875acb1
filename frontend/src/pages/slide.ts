/** The slide page (/slides/ID/): OpenSeadragon over the slide's Deep Zoom tiles, the annotation
 * layer with polygon, box, ellipse, freehand and point tools in slide level-0 pixels, and the
 * findings panel, save status and conflict dialog shared with the exam page. */

import { Api, ApiError, fillPath } from "../api";
import { ClinicalPanel, type ClinicalSchema } from "../clinical/panel";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { setupFindings } from "../findings/setup";
import type { Mark } from "../findings/types";
import { TOOL_KEYS } from "../shortcuts";
import { centre } from "../slide/geometry";
import { SLIDE_TOOLS, type SlideTool } from "../slide/tools";
import { dziTileSource, SlideViewer, type SlideInfo } from "../slide/viewer";
import { nextExam } from "../worklist/model";

const TILES_URL_REFRESH_MS = 20 * 60 * 1000;

const TOOL_TITLES: Record<SlideTool, string> = {
  pan: "Pan and zoom",
  box: "Box",
  ellipse: "Ellipse",
  polygon: "Polygon",
  freehand: "Freehand contour",
  point: "Point",
};

export async function mount(root: HTMLElement, config: SenolabConfig): Promise<void> {
  root.dataset.page = config.page;
  const slideId = config.slideId;
  if (!slideId) throw new Error("This page names no slide.");
  const api = Api.fromConfig(config);
  const slide = (await api.GET("/api/slides/{id}/", { path: { id: slideId } })) as unknown as SlideInfo;
  const dzi = await fetch(fillPath("/api/slides/{id}/dzi.xml", { id: slideId }), { credentials: "same-origin" });
  if (!dzi.ok) throw new Error(`The slide's tiles are not available (HTTP ${dzi.status}).`);
  // Tiles come from the slide's signed tiles_url, which the server answers without a session
  // lookup; it expires on the hour, so a fresh one is fetched every 20 minutes.
  const tileSource = dziTileSource(await dzi.text(), slide.tiles_url);

  const exam = config.examId ?? slide.exam;
  let viewer: SlideViewer | undefined;
  const view = () => {
    if (!viewer) throw new Error("The slide viewer is not ready.");
    return viewer;
  };
  const findings = await setupFindings(api, config, {
    exam,
    slide: slideId,
    modality: "SM",
    breastLabels: false,
    radiology: false,
    describeMark: (m) => `${m.kind}${m.kind === "polygon" || m.kind === "freehand" ? ` (${(m.geometry.points as unknown[]).length} points)` : ""}`,
    onSelect: () => viewer?.redraw(),
    onReferenceToggle: () => viewer?.redraw(),
    onFocusMark: (_key, mark) => viewer?.panTo(centre(mark)),
  });
  const { store, panel, shortcuts } = findings;

  const toolButtons = SLIDE_TOOLS.map((tool) =>
    h(
      "button",
      { dataset: { tool }, title: `${TOOL_TITLES[tool]} (${TOOL_KEYS[tool]})`, "aria-pressed": String(tool === "pan"), on: { click: () => view().setTool(tool) } },
      TOOL_TITLES[tool].split(" ")[0],
      h("kbd", {}, TOOL_KEYS[tool]),
    ),
  );
  const undo = h("button", { dataset: { action: "undo" }, title: "Undo (Ctrl+Z)", on: { click: () => panel.undo() } }, "Undo");
  const redo = h("button", { dataset: { action: "redo" }, title: "Redo (Ctrl+Shift+Z)", on: { click: () => panel.redo() } }, "Redo");
  const syncUndo = () => {
    undo.disabled = !store.canUndo();
    redo.disabled = !store.canRedo();
  };
  const finish = async () => {
    await store.flush();
    if (store.isDirty() || store.conflicts().length) return; // the status shows why
    await api.POST("/api/worklist/{exam_id}/done/", { path: { exam_id: exam } });
    await goNext();
  };
  const goNext = async () => {
    if (!config.projectId) return;
    await store.flush();
    const next = await nextExam(api, config.projectId);
    window.location.assign(next ? `/exams/${next}/` : "/");
  };
  const stage = h("div", { className: "slide-stage" });
  const mpp = slide.mpp_x ? ` · ${slide.mpp_x.toFixed(3)} µm/px` : "";
  root.replaceChildren(
    h(
      "div",
      { className: "slide-page" },
      h(
        "header",
        { className: "topbar" },
        h("a", { className: "brand", href: config.projectId ? `/?project=${config.projectId}` : "/", title: "Back to the worklist" }, "Senolab"),
        h("h1", {}, `Slide ${slide.id}`),
        h("span", { className: "muted meta" }, `exam ${exam} · ${slide.width.toLocaleString()} × ${slide.height.toLocaleString()} px${mpp}`),
        h("span", { className: "spacer" }),
        findings.status.el,
        h("button", { dataset: { action: "done" }, title: "Save, mark this exam read and open the next", on: { click: () => void finish() } }, "Done"),
        h("button", { dataset: { action: "next-exam" }, title: "Next exam (n)", on: { click: () => void goNext() } }, "Next exam"),
        h("button", { title: "Keyboard shortcuts (?)", on: { click: () => shortcuts.toggleHelp() } }, "?"),
      ),
      h(
        "nav",
        { className: "toolbar-row", "aria-label": "Tools" },
        h(
          "div",
          { className: "toolbar" },
          ...toolButtons,
          h("span", { className: "sep" }),
          undo,
          redo,
          h("span", { className: "sep" }),
          h("button", { dataset: { action: "zoom-in" }, title: "Zoom in (=)", on: { click: () => view().zoomBy(1.5) } }, "+"),
          h("button", { dataset: { action: "zoom-out" }, title: "Zoom out (-)", on: { click: () => view().zoomBy(1 / 1.5) } }, "−"),
          h("button", { dataset: { action: "home" }, title: "Whole slide (Home)", on: { click: () => view().home() } }, "Fit"),
        ),
      ),
      h("div", { className: "slide-main" }, stage, panel.el),
    ),
  );
  // The exam's clinical record above the findings, when the exam has one.
  void api
    .GET("/api/exams/{id}/clinical-record/", { path: { id: exam } })
    .then(async (record) => {
      const project = await api.get<{ clinical_schema?: ClinicalSchema }>(`/api/projects/${slide.project}/`).catch(() => ({ clinical_schema: {} as ClinicalSchema }));
      const role = config.projects.find((p) => p.id === slide.project)?.role;
      const clinical = new ClinicalPanel(api, exam, record, project.clinical_schema ?? {}, role === "annotator" || role === "reviewer" || role === "owner");
      panel.el.prepend(clinical.el);
    })
    .catch((err: unknown) => {
      if (!(err instanceof ApiError && err.status === 404)) console.warn("clinical record", err);
    });

  window.setInterval(() => {
    void api
      .GET("/api/slides/{id}/", { path: { id: slideId } })
      .then((fresh) => viewer?.setTilesUrl((fresh as unknown as SlideInfo).tiles_url))
      .catch(() => undefined); // the next refresh tries again; tiles keep loading meanwhile
  }, TILES_URL_REFRESH_MS);
  const slideViewer = new SlideViewer(stage, slide, tileSource, {
    // The panel's Reference toggle hides the reference's marks on the slide as in the panel.
    findings: () => store.findings().filter((f) => panel.showsReference || f.source !== "reference"),
    selected: () => panel.selected,
    onDrawn: ({ kind, geometry, append }) => {
      const mark: Mark = { slide: slide.id, frame: 0, kind, geometry };
      if (append && panel.selected) store.addMark(panel.selected, mark);
      else panel.select(store.create({ marks: [mark] }));
    },
    onPick: (key) => panel.select(key),
    onMoveMark: (key, mark, geometry) => {
      if (mark.key) store.updateMark(key, mark.key, { geometry }, { coalesce: `move:${mark.key}` });
    },
    onToolChange: (tool) => {
      for (const b of toolButtons) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    },
  });
  viewer = slideViewer;
  store.on("change", () => {
    slideViewer.redraw();
    syncUndo();
  });
  syncUndo();

  // Keys the drawing uses while a shape is open come first (Backspace removes a vertex, not
  // the finding; Escape drops the shape, not the selection).
  window.addEventListener(
    "keydown",
    (e) => {
      const target = e.target as HTMLElement | null;
      if (target?.closest?.("input, textarea, select")) return;
      if (slideViewer.drawing.key(e.key)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    },
    { capture: true },
  );
  const group = "Slide";
  for (const tool of SLIDE_TOOLS) {
    shortcuts.add({ keys: TOOL_KEYS[tool], description: `${TOOL_TITLES[tool]} tool`, group: "Tools", run: () => slideViewer.setTool(tool) });
  }
  shortcuts.add({ keys: "Enter", description: "Close the polygon being drawn", group: "Tools", run: () => void slideViewer.drawing.finishPolygon() });
  shortcuts.add({ keys: "Escape", description: "Drop the shape being drawn, or deselect", group: "Tools", inFields: true, run: (e) => {
    if (shortcuts.helpVisible) shortcuts.toggleHelp(false);
    else if ((e.target as HTMLElement)?.closest?.("input, textarea, select")) (e.target as HTMLElement).blur();
    else if (!slideViewer.drawing.cancel()) panel.select(null);
  } });
  shortcuts.add({ keys: ["=", "+"], description: "Zoom in", group, run: () => slideViewer.zoomBy(1.5) });
  shortcuts.add({ keys: "-", description: "Zoom out", group, run: () => slideViewer.zoomBy(1 / 1.5) });
  shortcuts.add({ keys: "Home", description: "Whole slide", group, run: () => slideViewer.home() });
  shortcuts.add({ keys: "n", description: "Save and open the next exam", group, run: () => void goNext() });
  shortcuts.add({ keys: "Shift+click", description: "Draw with Shift: add the mark to the selected finding", group: "Tools", run: () => {} });
  slideViewer.setTool("pan");
}
