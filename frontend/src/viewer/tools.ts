/** The tools of the viewer: one Cornerstone tool group for all viewports, the names the toolbar
 * uses (data-tool) mapped to Cornerstone tools, and the mouse bindings a reader expects
 * (left: the chosen tool; middle: pan; right: zoom; wheel: zoom, or scroll through a stack).
 * The brush and the eraser are not Cornerstone tools: with either on, the left button belongs
 * to the viewport's brush overlay (brushOverlay.ts, masks.ts). */

import {
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  MagnifyTool,
  PanTool,
  PlanarFreehandROITool,
  ProbeTool,
  RectangleROITool,
  SplineROITool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  type Types as ToolTypes,
} from "@cornerstonejs/tools";
import { TOOL_KEYS } from "../shortcuts";

const { MouseBindings } = ToolEnums;

export type ToolName =
  | "box"
  | "ellipse"
  | "polygon"
  | "freehand"
  | "point"
  | "length"
  | "brush"
  | "eraser"
  | "pan"
  | "zoom"
  | "wl"
  | "magnify";

/** The Cornerstone tool (or tool instance) behind each toolbar name but the paint tools. */
export const CS_TOOL: Record<Exclude<ToolName, "brush" | "eraser">, string> = {
  box: RectangleROITool.toolName,
  ellipse: EllipticalROITool.toolName,
  polygon: "Polygon",
  freehand: PlanarFreehandROITool.toolName,
  point: "Point",
  length: LengthTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
  wl: WindowLevelTool.toolName,
  magnify: MagnifyTool.toolName,
};

export const DRAWING_TOOLS: readonly ToolName[] = [
  "box", "ellipse", "polygon", "freehand", "point", "length", "brush", "eraser",
];

const NAVIGATION: readonly ToolName[] = ["pan", "zoom"];

export interface ToolSpec {
  name: ToolName;
  label: string;
  key: string;
  title: string;
}

export const TOOL_SPECS: readonly ToolSpec[] = [
  { name: "wl", label: "W/L", key: TOOL_KEYS.wl!, title: "Window/level: drag" },
  { name: "pan", label: "Pan", key: TOOL_KEYS.pan!, title: "Pan (also the middle button)" },
  { name: "zoom", label: "Zoom", key: TOOL_KEYS.zoom!, title: "Zoom (also the right button and the wheel)" },
  { name: "magnify", label: "Loupe", key: TOOL_KEYS.magnify!, title: "Magnifying glass while pressed" },
  { name: "box", label: "Box", key: TOOL_KEYS.box!, title: "Bounding box" },
  { name: "ellipse", label: "Ellipse", key: TOOL_KEYS.ellipse!, title: "Ellipse" },
  { name: "polygon", label: "Polygon", key: TOOL_KEYS.polygon!, title: "Polygon: click the corners, click the first to close" },
  { name: "freehand", label: "Freehand", key: TOOL_KEYS.freehand!, title: "Freehand contour: drag around" },
  { name: "point", label: "Point", key: TOOL_KEYS.point!, title: "Point (calcification)" },
  { name: "length", label: "Length", key: TOOL_KEYS.length!, title: "Length" },
  { name: "brush", label: "Brush", key: TOOL_KEYS.brush!, title: "Brush: paint a segmentation mask" },
  { name: "eraser", label: "Eraser", key: TOOL_KEYS.eraser!, title: "Eraser: remove from the mask" },
];

let registered = false;
let groupCount = 0;

function registerTools(): void {
  if (registered) return;
  registered = true;
  for (const Tool of [
    PanTool, ZoomTool, WindowLevelTool, StackScrollTool, MagnifyTool, RectangleROITool,
    EllipticalROITool, PlanarFreehandROITool, SplineROITool, ProbeTool, LengthTool,
  ]) {
    addTool(Tool);
  }
}

/** The viewer's tool group, with one tool active on the left button at a time. */
export class ViewerTools {
  readonly group: ToolTypes.IToolGroup;
  active: ToolName = "wl";
  private stackMode = false;

  constructor() {
    registerTools();
    groupCount += 1;
    const group = ToolGroupManager.createToolGroup(`senolab-tools-${groupCount}`);
    if (!group) throw new Error("The tool group could not be created.");
    this.group = group;
    group.addTool(PanTool.toolName);
    group.addTool(ZoomTool.toolName, { minZoomScale: 0.1, maxZoomScale: 40 });
    group.addTool(WindowLevelTool.toolName);
    group.addTool(StackScrollTool.toolName, { loop: true });
    group.addTool(MagnifyTool.toolName, { magnifySize: 12, magnifyingGlassSize: 360 });
    group.addTool(RectangleROITool.toolName, { getTextLines: () => [] });
    group.addTool(EllipticalROITool.toolName, { getTextLines: () => [] });
    group.addTool(PlanarFreehandROITool.toolName, { calculateStats: false, getTextLines: () => [] });
    group.addTool(SplineROITool.toolName);
    group.addToolInstance("Polygon", SplineROITool.toolName, {
      spline: { type: "LINEAR", enableTwoPointPreview: true },
      calculateStats: false,
      getTextLines: () => [],
    });
    group.addTool(ProbeTool.toolName);
    group.addToolInstance("Point", ProbeTool.toolName, { getTextLines: () => [] });
    group.addTool(LengthTool.toolName);
    // Drawn marks stay visible (and editable by dragging their handles) whatever tool is on.
    for (const name of ["box", "ellipse", "polygon", "freehand", "point", "length"] as const) {
      group.setToolPassive(CS_TOOL[name]);
    }
    this.applyBindings();
  }

  addViewport(viewportId: string, renderingEngineId: string): void {
    this.group.addViewport(viewportId, renderingEngineId);
  }

  /** The wheel zooms a mammogram and scrolls through a stack or cine. */
  bindNavigation(stack: boolean): void {
    this.stackMode = stack;
    this.applyBindings();
  }

  /** Put a tool on the left button; a drawing tool put down stays passive (its marks can
   * still be dragged), any other goes back to its own buttons. */
  activate(name: ToolName): void {
    const previous = csTool(this.active);
    const drawing = DRAWING_TOOLS.includes(this.active);
    const navigation = NAVIGATION.includes(this.active);
    this.active = name;
    if (previous && previous !== csTool(name) && !navigation) {
      if (drawing) this.group.setToolPassive(previous);
      else this.group.setToolDisabled(previous);
    }
    this.applyBindings();
  }

  /** Bindings from scratch: middle pans, right zooms, the wheel zooms or scrolls, and the
   * left button belongs to the active tool. */
  private applyBindings(): void {
    const { Primary, Secondary, Auxiliary, Wheel } = MouseBindings;
    const primary = (tool: ToolName) => (this.active === tool ? [{ mouseButton: Primary }] : []);
    const set = (toolName: string, bindings: { mouseButton: number }[]) => {
      this.group.setToolDisabled(toolName);
      if (bindings.length) this.group.setToolActive(toolName, { bindings });
    };
    set(PanTool.toolName, [{ mouseButton: Auxiliary }, ...primary("pan")]);
    set(ZoomTool.toolName, [
      { mouseButton: Secondary },
      ...(this.stackMode ? [] : [{ mouseButton: Wheel }]),
      ...primary("zoom"),
    ]);
    set(StackScrollTool.toolName, this.stackMode ? [{ mouseButton: Wheel }] : []);
    const tool = csTool(this.active);
    if (tool && !NAVIGATION.includes(this.active)) {
      this.group.setToolActive(tool, { bindings: [{ mouseButton: Primary }] });
    }
  }
}

/** The Cornerstone tool behind a toolbar name; null for the paint tools. */
function csTool(name: ToolName): string | null {
  return name === "brush" || name === "eraser" ? null : CS_TOOL[name];
}
