/** Puts the exam page together: layout, viewports, tools, findings, proposals and keys. */

import { Enums, type StackViewport } from "@cornerstonejs/core";
import { Api } from "../api";
import { ClinicalPanel, type ClinicalSchema } from "../clinical/panel";
import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { setupFindings } from "../findings/setup";
import type { FindingStore } from "../findings/store";
import { FramePlayer } from "./cine";
import { ViewerGrid, type ViewportHandle } from "./grid";
import { examImages, hangImages } from "./hanging";
import { startCornerstone } from "./loader";
import { MarkLayer } from "./markLayer";
import { MaskLayer } from "./masks";
import { ProposalLayer, type ProposalStyle } from "./proposals";
import { ReadsSection } from "./reads";
import { ZoomPanSync } from "./sync";
import { ACTIONS, Toolbar } from "./toolbar";
import { TOOL_SPECS, ViewerTools, type ToolName } from "./tools";
import type { ExamDetail, ExamSummary } from "./types";
import { presetByName, toVoiRange } from "./wl";
import "./viewer.css";

export interface ExamViewer {
  api: Api;
  exam: ExamDetail;
  grid: ViewerGrid;
  tools: ViewerTools;
  store: FindingStore;
  marks: MarkLayer;
}

function titleOf(exam: ExamDetail): string {
  return [exam.patient_pseudonym, exam.study_date ?? "", exam.modalities.join(" "), exam.description]
    .filter(Boolean)
    .join(" · ");
}

export async function mountExamViewer(root: HTMLElement, config: SenolabConfig): Promise<ExamViewer> {
  const api = Api.fromConfig(config);
  const examId = config.examId;
  if (!examId) throw new Error("This page names no exam.");
  const viewerHost = h("main", { className: "viewer", dataset: { testid: "viewer" } });
  const side = h("div", { className: "exam-side" });
  const header = h("header", { className: "exam-header" });
  root.replaceChildren(
    h("div", { className: "exam-page" }, header, h("div", { className: "exam-body" }, viewerHost, side)),
  );

  const [exam] = await Promise.all([api.get<ExamDetail>(`/api/exams/${examId}/`), startCornerstone()]);

  const grid = new ViewerGrid(viewerHost);
  const tools = new ViewerTools();
  const sync = new ZoomPanSync(grid);
  const player = new FramePlayer(grid);
  const role = config.projects.find((p) => p.id === exam.project)?.role;
  const projectInfo = await api
    .get<{ rejection_reasons?: string[]; clinical_schema?: ClinicalSchema }>(`/api/projects/${exam.project}/`)
    .catch(() => ({ rejection_reasons: [] as string[], clinical_schema: {} as ClinicalSchema }));
  const imageNames = new Map(examImages(exam).map((im) => [im.id, [im.modality, `${im.laterality}-${im.view}`.replace(/^-|-$/g, "")].filter(Boolean).join(" ")]));
  const late: { marks?: MarkLayer; masks?: MaskLayer; store?: FindingStore } = {};
  const proposals = new ProposalLayer(api, grid, {
    projectId: exam.project,
    modalities: exam.modalities,
    canRun: role === "reviewer" || role === "owner",
    canReview: role === "annotator" || role === "reviewer" || role === "owner",
    reasons: projectInfo.rejection_reasons ?? [],
    imageName: (id) => imageNames.get(id) ?? `image ${id}`,
    // An accepted or edited proposal is a new finding on the server: show it.
    onReviewed: async () => {
      if (!late.store) return;
      await late.store.flush();
      await late.store.load();
      late.marks?.sync();
    },
  });
  // The findings side as on the slide page (src/findings/setup.ts): the project's label schema,
  // the loaded store, panel, save status, conflict dialog and unsaved-changes guard; the page
  // attaches the keys itself, with its own tools added.
  // The Reference toggle hides the reference's marks and masks in the viewer as in the panel.
  const showReference = (shown: boolean) => {
    late.marks?.setReferenceShown(shown);
    late.masks?.setReferenceShown(shown);
  };
  const findings = await setupFindings(api, config, {
    exam: exam.id,
    modality: exam.modalities[0],
    describeMark: (mark) => late.marks?.describe(mark) ?? mark.kind,
    onSelect: () => late.marks?.sync(),
    onReferenceToggle: showReference,
    allowCreate: true,
    attachKeys: false,
  });
  const { store, panel, status } = findings;
  late.store = store;
  const marks = new MarkLayer(grid, tools, store, {
    onSelect: (key) => panel?.select(key),
    selected: () => panel?.selected ?? null,
  });
  late.marks = marks;
  const linkButton = h(
    "button",
    {
      type: "button",
      dataset: { action: "link-view" },
      title: "Link this finding to a mark on another view: draw it there next (k)",
      "aria-pressed": "false",
      on: { click: () => setLinkMode(!marks.linkMode) },
    },
    "Link to view",
  );
  const masks = new MaskLayer(grid, store, {
    selected: () => panel?.selected ?? null,
    onSelect: (key) => panel?.select(key),
    takeLink: () => {
      const linked = marks.linkMode;
      if (linked) setLinkMode(false);
      return linked;
    },
  });
  late.masks = masks;
  showReference(panel.showsReference);
  panel.actionsEl.append(linkButton);
  const reads = new ReadsSection(api, exam.id, { flush: () => store.flush(), reveal: () => proposals.load(exam.id) });
  // The case's clinical record, editable by annotators and above (409 when someone saved first).
  const clinical = new ClinicalPanel(api, exam.id, exam.clinical_record ?? null, projectInfo.clinical_schema ?? {}, role === "annotator" || role === "reviewer" || role === "owner");
  side.append(h("div", { className: "exam-title", title: titleOf(exam), dataset: { testid: "exam-title" } }, titleOf(exam)), reads.el, clinical.el, panel.el, proposals.statusEl);

  let active: ViewportHandle | null = null;
  // A new layout fits every image again; the cameras' changes are not a reader's zoom to copy.
  const relayout = () => {
    sync.enabled = false;
    try {
      grid.resize();
    } finally {
      sync.enabled = true;
    }
  };
  let invert = false;
  let priorShown = false;

  const setLinkMode = (on: boolean) => {
    marks.linkMode = on && !!panel?.selected;
    linkButton.setAttribute("aria-pressed", String(marks.linkMode));
    viewerHost.dataset.linkMode = String(marks.linkMode);
  };
  document.addEventListener("senolab:link-mode", () => setLinkMode(false));

  const viewports = () => grid.handles.map((hd) => ({ hd, vp: grid.viewport(hd) as StackViewport }));
  const chooseTool = (name: ToolName) => {
    tools.activate(name);
    masks.setTool(name);
    toolbar.setTool(name);
    viewerHost.dataset.tool = name;
  };
  const applyPreset = (name: string) => {
    const preset = presetByName(name);
    if (!preset) return;
    for (const { hd, vp } of viewports()) {
      const image = vp.getCornerstoneImage();
      const info = hd.slotInfo.images[0];
      if (!image || !info || image.color) continue;
      const stored = info.window_width && info.window_center !== null
        ? { center: info.window_center, width: info.window_width } : null;
      const wl = preset.window(info.bits_stored || 16, image.minPixelValue, image.maxPixelValue, stored);
      vp.setProperties({ voiRange: toVoiRange(wl) });
      vp.render();
    }
  };
  const actions: Record<string, () => void | Promise<void>> = {
    invert: () => {
      invert = !invert;
      for (const { vp } of viewports()) {
        vp.setProperties({ invert });
        vp.render();
      }
      toolbar.setPressed("invert", invert);
    },
    reset: () => {
      for (const { hd, vp } of viewports()) {
        vp.resetCamera();
        if (hd.flipped) vp.setCamera({ flipHorizontal: true });
        vp.resetProperties();
        vp.setProperties({ invert });
        vp.render();
      }
      toolbar.presetSelect.value = "default";
    },
    "toggle-prior": async () => {
      if (priorShown) {
        grid.hidePrior();
        relayout();
        priorShown = false;
        toolbar.setPressed("toggle-prior", false);
        return;
      }
      const priors = await api.get<ExamSummary[]>(`/api/exams/${exam.id}/priors/`);
      const prior = priors[0];
      if (!prior) {
        toolbar.setEnabled("toggle-prior", false);
        return;
      }
      const detail = await api.get<ExamDetail>(`/api/exams/${prior.id}/`);
      priorShown = true;
      toolbar.setPressed("toggle-prior", true);
      const before = new Set(grid.handles);
      const shown = grid.show(hangImages(examImages(detail)), { prior: true, label: `prior ${detail.study_date ?? ""}` });
      for (const hd of grid.handles.filter((x) => !before.has(x))) attach(hd);
      relayout();
      await shown;
    },
    "toggle-proposals": () => {
      proposals.setVisible(!proposals.visible);
      toolbar.setPressed("toggle-proposals", proposals.visible);
      viewerHost.dataset.proposals = String(proposals.visible);
    },
    "toggle-marks": () => {
      marksVisible = !marksVisible;
      marks.setVisible(marksVisible);
      masks.setVisible(marksVisible);
      toolbar.setPressed("toggle-marks", marksVisible);
    },
    undo: () => panel?.undo(),
    redo: () => panel?.redo(),
    "next-exam": async () => {
      await store.flush();
      if (config.projectId) {
        await api.post(`/api/worklist/${exam.id}/done/`).catch(() => undefined);
        const next = await api.post<{ exam: number | null }>("/api/worklist/next/", undefined, {
          project: config.projectId,
        });
        if (next.exam) {
          location.assign(`/exams/${next.exam}/`);
          return;
        }
      }
      location.assign(config.projectId ? `/?project=${config.projectId}` : "/");
    },
  };
  let marksVisible = true;
  const runAction = (name: string) => {
    const fn = actions[name];
    if (fn) void Promise.resolve(fn()).catch((err) => console.error(err));
  };
  const toolbar = new Toolbar({
    tool: chooseTool,
    action: runAction,
    preset: applyPreset,
    proposalStyle: (style) => proposals.setStyle(style as ProposalStyle),
  });
  toolbar.setPressed("toggle-marks", true);
  header.append(
    h("a", { className: "exam-back", href: config.projectId ? `/?project=${config.projectId}` : "/", title: "Back to the worklist", dataset: { testid: "back-to-worklist" } }, "◂ Worklist"),
    toolbar.el,
    status.el,
    h("button", { type: "button", className: "help-button", title: "Keyboard shortcuts (?)", dataset: { action: "help" }, on: { click: () => findings.shortcuts.toggleHelp() } }, "?"),
  );

  // Each viewport: tools, zoom/pan sync, W/L copied across the views of its row, frames, AI layer.
  const attach = (hd: ViewportHandle) => {
    tools.addViewport(hd.viewportId, grid.engine.id);
    sync.watch(hd);
    player.watch(hd);
    proposals.watch(hd);
    marks.watch(hd);
    hd.host.addEventListener("pointerdown", () => setActive(hd));
    hd.host.addEventListener("pointerenter", () => setActive(hd));
    hd.element.addEventListener(Enums.Events.VOI_MODIFIED, (evt) => {
      const range = (evt as CustomEvent).detail?.range;
      if (!range || copyingVoi || !hd.fullRes) return;
      copyingVoi = true;
      for (const { hd: other, vp } of viewports()) {
        if (other === hd || other.prior !== hd.prior || !other.fullRes) continue;
        if (vp.getCornerstoneImage()?.color) continue;
        vp.setProperties({ voiRange: range });
        vp.render();
      }
      copyingVoi = false;
    });
  };
  let copyingVoi = false;
  const setActive = (hd: ViewportHandle) => {
    if (active === hd) return;
    active?.host.classList.remove("active");
    active = hd;
    hd.host.classList.add("active");
  };

  // Keys: the tools, the actions, frames; the panel adds findings, labels and undo/redo.
  const shortcuts = findings.shortcuts;
  for (const spec of TOOL_SPECS) {
    shortcuts.add({ keys: spec.key, description: spec.title, group: "Tools", run: () => chooseTool(spec.name) });
  }
  for (const spec of ACTIONS) {
    if (!spec.key || spec.name === "undo" || spec.name === "redo") continue;
    shortcuts.add({ keys: spec.key, description: spec.title, group: "View", run: () => runAction(spec.name) });
  }
  shortcuts.add({
    keys: "c",
    description: "New finding without a mark (label it with the keys below)",
    group: "Findings",
    run: () => panel?.select(store.create()),
  });
  shortcuts.add({ keys: "k", description: "Link the selected finding to the next mark drawn", group: "Findings", run: () => setLinkMode(!marks.linkMode) });
  shortcuts.add({ keys: ["ArrowDown", "ArrowRight"], description: "Next frame or slice", group: "View", run: () => active && player.step(active, 1) });
  shortcuts.add({ keys: ["ArrowUp", "ArrowLeft"], description: "Previous frame or slice", group: "View", run: () => active && player.step(active, -1) });
  shortcuts.add({ keys: "Space", description: "Play or pause a cine loop", group: "View", run: () => active && player.toggle(active) });
  panel.registerShortcuts(shortcuts);
  // Review of the AI proposals (the side panel's list): keys free on this page.
  const review = () => proposals.review;
  shortcuts.add({ keys: "g", description: "Select the next AI proposal to review", group: "AI proposals", run: () => review()?.step() });
  shortcuts.add({ keys: "y", description: "Accept the selected AI proposal as a finding", group: "AI proposals", run: () => void review()?.accept() });
  shortcuts.add({ keys: "u", description: "Edit the selected AI proposal's circle before accepting it", group: "AI proposals", run: () => review()?.openEdit() });
  shortcuts.add({ keys: "j", description: "Reject the selected AI proposal (choose the reason)", group: "AI proposals", run: () => review()?.focusReject() });
  shortcuts.add({
    keys: "q",
    description: "Accept all AI proposals above the threshold (asks to confirm)",
    group: "AI proposals",
    run: () => {
      const input = document.querySelector<HTMLInputElement>(".ai-accept-all input[name=threshold]");
      if (input) void review()?.askAcceptAll(Number(input.value));
    },
  });
  shortcuts.add({
    keys: "Escape",
    description: "Drop the shape being drawn, leave the link mode, or deselect",
    group: "Tools",
    inFields: true,
    run: (e) => {
      const target = e.target as HTMLElement | null;
      if (shortcuts.helpVisible) shortcuts.toggleHelp(false);
      else if (target?.closest?.("input, textarea, select")) target.blur();
      else if (marks.cancelDrawing()) return;
      else if (marks.linkMode) setLinkMode(false);
      else panel?.select(null);
    },
  });
  shortcuts.attach();
  // A click in an image gives the focus to Cornerstone's viewport element, which swallows keys:
  // the page's keys are handled before it sees them (as on the slide page, keys work wherever
  // the reader last clicked).
  shortcuts.attachFirst(viewerHost);

  const hanging = hangImages(examImages(exam));
  viewerHost.dataset.layout = hanging.layout;
  tools.bindNavigation(hanging.layout !== "mammo" && hanging.slots.some((s) => slotFrameCount(s) > 1));
  chooseTool(hanging.layout === "mammo" ? "wl" : "wl");
  window.addEventListener("resize", () => relayout());
  const shown = grid.show(hanging);
  for (const hd of grid.handles) attach(hd);
  setActive(grid.handles[0]!);
  await Promise.all([shown, proposals.load(exam.id), reads.load()]);
  api.get<ExamSummary[]>(`/api/exams/${exam.id}/priors/`).then(
    (priors) => toolbar.setEnabled("toggle-prior", priors.length > 0),
    () => toolbar.setEnabled("toggle-prior", false),
  );
  marks.sync();
  return { api, exam, grid, tools, store, marks };
}

function slotFrameCount(slot: { images: { frame_count: number }[] }): number {
  return slot.images.reduce((n, im) => n + Math.max(1, im.frame_count), 0);
}
