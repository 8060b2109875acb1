import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConflictDialog } from "../../src/findings/conflict";
import { FindingsPanel } from "../../src/findings/panel";
import { SaveStatus } from "../../src/findings/status";
import { FindingStore } from "../../src/findings/store";
import { DEFAULT_SCHEMA, type LabelSchema } from "../../src/findings/types";
import { Shortcuts } from "../../src/shortcuts";
import { FakeServer } from "./fakeServer";

const schema: LabelSchema = {
  ...DEFAULT_SCHEMA,
  attributes: {
    mass_shape: { type: "choice", choices: ["oval", "round"], modalities: ["MG", "US"], finding_types: ["mass"] },
    calcification_morphology: { type: "choice", choices: ["amorphous", "fine_linear"], modalities: ["MG"], finding_types: ["calcification"] },
    gleason: { type: "number", modalities: ["SM"] },
  },
};

function choose(root: ParentNode, name: string, value: string): void {
  const el = root.querySelector<HTMLSelectElement>(`select[name="${name}"]`);
  if (!el) throw new Error(`no select ${name}`);
  el.value = value;
  el.dispatchEvent(new Event("change"));
}

function key(target: EventTarget, k: string, init: KeyboardEventInit = {}): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
}

describe("findings panel, save status and conflict dialog", () => {
  let server: FakeServer;
  let store: FindingStore;
  let panel: FindingsPanel;

  beforeEach(async () => {
    localStorage.clear(); // the store keeps unsaved work there: no test sees another's
    vi.useFakeTimers();
    document.body.replaceChildren();
    server = new FakeServer();
    server.seed({ finding_type: "mass", birads: "3", marks: [{ image: 3, kind: "point", geometry: { x: 1, y: 1 } }] });
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 300 });
    await store.load();
    panel = new FindingsPanel(store, { schema, modality: "MG" });
    document.body.append(panel.el, new SaveStatus(store).el);
  });

  const attached: Shortcuts[] = [];
  function keyboard(): Shortcuts {
    const shortcuts = new Shortcuts(document);
    panel.registerShortcuts(shortcuts);
    shortcuts.attach(document);
    attached.push(shortcuts);
    return shortcuts;
  }

  afterEach(() => {
    for (const s of attached.splice(0)) s.dispose();
    store.dispose();
    vi.useRealTimers();
  });

  it("lists findings with their ids and edits the selected one through the store", async () => {
    const items = document.querySelectorAll<HTMLElement>("[data-testid=finding]");
    expect(items).toHaveLength(1);
    const id = Number(items[0].dataset.findingId);
    items[0].click();
    expect(document.querySelector<HTMLSelectElement>("select[name=birads]")?.value).toBe("3");
    choose(document, "birads", "4");
    choose(document, "attributes.mass_shape", "oval");
    expect(document.querySelector("[data-testid=save-status]")?.getAttribute("data-state")).toBe("dirty");
    await vi.advanceTimersByTimeAsync(400);
    expect(server.findings.get(id)).toMatchObject({ birads: "4", attributes: { mass_shape: "oval" } });
    expect(document.querySelector("[data-testid=save-status]")?.getAttribute("data-state")).toBe("saved");
  });

  it("offers the descriptors of the exam's modality only", () => {
    document.querySelector<HTMLElement>("[data-testid=finding]")?.click();
    expect(document.querySelector("select[name='attributes.mass_shape']")).not.toBeNull();
    expect(document.querySelector("input[name='attributes.gleason']")).toBeNull();
  });

  it("asks a mass for its shape, not for calcification morphology, and labels it in words", () => {
    document.querySelector<HTMLElement>("[data-testid=finding]")?.click();
    expect(document.querySelector("select[name='attributes.calcification_morphology']")).toBeNull();
    const shape = document.querySelector("select[name='attributes.mass_shape']");
    expect(shape?.closest("label")?.textContent).toMatch(/^Shape/);
  });

  it("drops the descriptors that do not fit a new finding type", async () => {
    const item = document.querySelector<HTMLElement>("[data-testid=finding]");
    const id = Number(item?.dataset.findingId);
    item?.click();
    choose(document, "attributes.mass_shape", "oval");
    choose(document, "finding_type", "calcification");
    expect(document.querySelector("select[name='attributes.mass_shape']")).toBeNull();
    expect(document.querySelector("select[name='attributes.calcification_morphology']")).not.toBeNull();
    await vi.advanceTimersByTimeAsync(400);
    expect(server.findings.get(id)).toMatchObject({ finding_type: "calcification", attributes: {} });
  });

  it("asks a slide for pathology, not for breast density or BI-RADS", () => {
    const slidePanel = new FindingsPanel(store, { schema, modality: "SM", breastLabels: false, radiology: false });
    slidePanel.select(store.findings()[0].key);
    expect(slidePanel.el.querySelector("select[name=density]")).toBeNull();
    expect(slidePanel.el.querySelector("select[name=exam_birads]")).toBeNull();
    expect(slidePanel.el.querySelector("select[name=birads]")).toBeNull();
    expect(slidePanel.el.querySelector("select[name=exam_pathology]")).not.toBeNull();
    expect(slidePanel.el.textContent).not.toMatch(/BI-RADS|density/i);
    slidePanel.dispose();
  });

  it("saves exam-level and breast-level labels", async () => {
    choose(document, "density", "C");
    choose(document, "exam_birads", "2");
    choose(document, "breast_birads_L", "4");
    await vi.advanceTimersByTimeAsync(400);
    expect(server.labels.find((l) => l.laterality === "")).toMatchObject({ density: "C", birads: "2" });
    expect(server.labels.find((l) => l.laterality === "L")).toMatchObject({ birads: "4" });
  });

  it("drives the selection, BI-RADS and undo from the keyboard", () => {
    keyboard();
    key(document.body, "]");
    expect(panel.selected).not.toBeNull();
    key(document.body, "5");
    expect(store.findings()[0].birads).toBe("5");
    key(document.body, "z", { ctrlKey: true });
    expect(store.findings()[0].birads).toBe("3");
    key(document.body, "Z", { ctrlKey: true, shiftKey: true });
    expect(store.findings()[0].birads).toBe("5");
    key(document.body, "?");
    expect(document.querySelector("[data-testid=shortcut-help]")?.textContent).toContain("BI-RADS of the selected finding");
    key(document.body, "Escape");
    expect(document.querySelector("[data-testid=shortcut-help]")).toBeNull();
  });

  it("leaves keys typed in a field to the field", () => {
    keyboard();
    key(document.body, "]");
    const note = document.querySelector<HTMLTextAreaElement>("textarea[name=note]")!;
    key(note, "5");
    expect(store.findings()[0].birads).toBe("3");
  });

  it("shows a stored note in its box, so typing adds to it instead of replacing it", async () => {
    const other = new FakeServer();
    other.seed({ finding_type: "mass", birads: "4", note: "spiculated margin, recheck", marks: [{ image: 3, kind: "point", geometry: { x: 1, y: 1 } }] });
    const loaded = new FindingStore(other.api(), { exam: 7, userId: 1, debounceMs: 300 });
    await loaded.load();
    const view = new FindingsPanel(loaded, { schema, modality: "MG" });
    document.body.replaceChildren(view.el);
    view.select(loaded.findings()[0]!.key);
    expect(document.querySelector<HTMLTextAreaElement>("textarea[name=note]")!.value).toBe("spiculated margin, recheck");
    loaded.dispose();
  });

  it("shows mine and theirs side by side after a 409 and keeps mine on request", async () => {
    const dialog = new ConflictDialog(store, document.body);
    const id = store.findings()[0].id!;
    server.editElsewhere(id, { birads: "5", note: "their note" });
    document.querySelector<HTMLElement>("[data-testid=finding]")?.click();
    choose(document, "birads", "4");
    await vi.advanceTimersByTimeAsync(400);

    expect(dialog.open).toBe(true);
    expect(document.querySelector("[data-testid=save-status]")?.getAttribute("data-state")).toBe("conflict");
    expect(document.querySelector("[data-testid=conflict-mine]")?.textContent).toContain("4");
    expect(document.querySelector("[data-testid=conflict-theirs]")?.textContent).toContain("their note");
    document.querySelector<HTMLButtonElement>("[data-action=keep-mine]")?.click();
    await vi.advanceTimersByTimeAsync(10);
    expect(dialog.open).toBe(false);
    expect(server.findings.get(id)).toMatchObject({ birads: "4", version: 3 });
  });

  it("takes theirs from the dialog", async () => {
    new ConflictDialog(store, document.body);
    const id = store.findings()[0].id!;
    server.editElsewhere(id, { birads: "5" });
    document.querySelector<HTMLElement>("[data-testid=finding]")?.click();
    choose(document, "birads", "4");
    await vi.advanceTimersByTimeAsync(400);
    document.querySelector<HTMLButtonElement>("[data-action=take-theirs]")?.click();
    expect(document.querySelector("[data-testid=conflict]")).toBeNull();
    expect(document.querySelector<HTMLSelectElement>("select[name=birads]")?.value).toBe("5");
  });
});
