/** The exam page's toolbar: tool buttons [data-tool], actions [data-action], the W/L preset
 * select[name=wl-preset] and the proposals style select. It only builds the controls and reports
 * clicks; examViewer.ts decides what they do. */

import { h } from "../findings/dom";
import { TOOL_SPECS, type ToolName } from "./tools";
import { WL_PRESETS } from "./wl";

export interface ToolbarHandlers {
  tool: (name: ToolName) => void;
  action: (name: string) => void;
  preset: (name: string) => void;
  proposalStyle: (style: string) => void;
}

export interface ActionSpec {
  name: string;
  label: string;
  key?: string;
  title: string;
  toggle?: boolean;
}

export const ACTIONS: readonly ActionSpec[] = [
  { name: "invert", label: "Invert", key: "i", title: "Invert grey levels", toggle: true },
  { name: "reset", label: "Reset", key: "r", title: "Fit the images again and reset W/L" },
  { name: "toggle-prior", label: "Prior", key: "t", title: "Show the prior exam below", toggle: true },
  { name: "toggle-proposals", label: "AI", key: "a", title: "Show machine proposals (never saved as marks)", toggle: true },
  { name: "toggle-marks", label: "Marks", key: "v", title: "Show or hide my marks", toggle: true },
  { name: "undo", label: "Undo", key: "Ctrl+Z", title: "Undo" },
  { name: "redo", label: "Redo", key: "Ctrl+Y", title: "Redo" },
  { name: "next-exam", label: "Next ▸", key: "n", title: "Done: open the next exam of the worklist" },
];

export class Toolbar {
  readonly el: HTMLElement;
  private readonly toolButtons = new Map<ToolName, HTMLButtonElement>();
  private readonly actionButtons = new Map<string, HTMLButtonElement>();
  readonly presetSelect: HTMLSelectElement;

  constructor(handlers: ToolbarHandlers) {
    const tools = TOOL_SPECS.map((spec) => {
      const button = h(
        "button",
        {
          type: "button",
          dataset: { tool: spec.name },
          title: `${spec.title} (${spec.key})`,
          "aria-pressed": "false",
          on: { click: () => handlers.tool(spec.name) },
        },
        spec.label,
        h("kbd", {}, spec.key),
      );
      this.toolButtons.set(spec.name, button);
      return button;
    });
    const action = (name: string) => {
      const spec = ACTIONS.find((a) => a.name === name)!;
      const button = h(
        "button",
        {
          type: "button",
          dataset: { action: spec.name },
          title: spec.key ? `${spec.title} (${spec.key})` : spec.title,
          ...(spec.toggle ? { "aria-pressed": "false" } : {}),
          on: { click: () => handlers.action(spec.name) },
        },
        spec.label,
      );
      this.actionButtons.set(spec.name, button);
      return button;
    };
    this.presetSelect = h(
      "select",
      { name: "wl-preset", title: "Window/level preset", on: { change: (e) => handlers.preset((e.target as HTMLSelectElement).value) } },
      ...WL_PRESETS.map((p) => h("option", { value: p.name }, p.label)),
    );
    const proposalStyle = h(
      "select",
      {
        name: "proposal-style",
        title: "How machine proposals are drawn",
        on: { change: (e) => handlers.proposalStyle((e.target as HTMLSelectElement).value) },
      },
      h("option", { value: "outline" }, "AI: outline"),
      h("option", { value: "filled" }, "AI: filled"),
    );
    const sep = () => h("span", { className: "sep" });
    this.el = h(
      "div",
      { className: "toolbar", role: "toolbar", "aria-label": "Viewer tools" },
      ...tools.slice(0, 4),
      sep(),
      ...tools.slice(4),
      sep(),
      this.presetSelect,
      action("invert"),
      action("reset"),
      sep(),
      action("toggle-prior"),
      action("toggle-proposals"),
      proposalStyle,
      action("toggle-marks"),
      sep(),
      action("undo"),
      action("redo"),
      sep(),
      action("next-exam"),
    );
  }

  setTool(name: ToolName): void {
    for (const [tool, button] of this.toolButtons) button.setAttribute("aria-pressed", String(tool === name));
  }

  setPressed(action: string, pressed: boolean): void {
    this.actionButtons.get(action)?.setAttribute("aria-pressed", String(pressed));
  }

  setEnabled(action: string, enabled: boolean): void {
    const button = this.actionButtons.get(action);
    if (button) button.disabled = !enabled;
  }
}
