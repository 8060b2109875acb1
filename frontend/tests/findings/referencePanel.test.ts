import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Role } from "../../src/config";
import { FindingsPanel } from "../../src/findings/panel";
import { FindingStore } from "../../src/findings/store";
import { DEFAULT_SCHEMA } from "../../src/findings/types";
import { Shortcuts } from "../../src/shortcuts";
import { FakeServer } from "./fakeServer";

function items(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>("[data-testid=finding]")];
}

describe("reference (imported ground truth) in the findings panel", () => {
  let server: FakeServer;
  let store: FindingStore;
  let reference: number;

  beforeEach(async () => {
    vi.useFakeTimers();
    document.body.replaceChildren();
    localStorage.clear();
    server = new FakeServer();
    server.seed({ finding_type: "calcification", birads: "3" });
    reference = server.seed({ source: "reference", finding_type: "mass", birads: "5", pathology: "malignant" }).id;
    server.labels.push({
      id: 9,
      exam: 7,
      source: "reference",
      laterality: "L",
      density: "B",
      birads: "5",
      pathology: "malignant",
      attributes: {},
      version: 1,
      author: null,
      updated_at: null,
    });
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 300 });
    await store.load();
  });

  afterEach(() => {
    store.dispose();
    vi.useRealTimers();
  });

  function open(role: Role, extra: Partial<ConstructorParameters<typeof FindingsPanel>[1]> = {}): FindingsPanel {
    const panel = new FindingsPanel(store, { schema: DEFAULT_SCHEMA, modality: "MG", role, ...extra });
    document.body.append(panel.el);
    return panel;
  }

  function selectReference(): void {
    items()
      .find((el) => el.dataset.findingId === String(reference))!
      .click();
  }

  it.each<Role>(["annotator", "reviewer"])("offers a %s no enabled control that would change a reference finding", async (role) => {
    const panel = open(role);
    const shortcuts = new Shortcuts(document);
    panel.registerShortcuts(shortcuts);
    shortcuts.attach(document);
    selectReference();
    expect(document.querySelector("[data-testid=read-only]")?.textContent).toContain("Only a project owner");
    const controls = [...document.querySelectorAll<HTMLSelectElement | HTMLTextAreaElement | HTMLButtonElement>(".finding-editor select, .finding-editor textarea, .finding-editor button.danger")];
    expect(controls.length).toBeGreaterThan(4);
    expect(controls.filter((el) => !el.disabled).map((el) => el.name || el.textContent)).toEqual([]);
    // Neither the keys nor the panel's own calls change it
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "2", bubbles: true }));
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "Delete", bubbles: true }));
    expect(panel.setField("birads", "1")).toBe(false);
    panel.deleteSelected();
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.writes()).toEqual([]);
    expect(server.findings.get(reference)).toMatchObject({ birads: "5", deleted: false });
    shortcuts.dispose();
  });

  it("lets an owner correct a reference finding", async () => {
    open("owner");
    selectReference();
    expect(document.querySelector("[data-testid=read-only]")).toBeNull();
    const birads = document.querySelector<HTMLSelectElement>(".finding-editor select[name=birads]")!;
    expect(birads.disabled).toBe(false);
    birads.value = "4";
    birads.dispatchEvent(new Event("change"));
    await vi.advanceTimersByTimeAsync(400);
    expect(server.findings.get(reference)).toMatchObject({ birads: "4" });
  });

  it("hides and shows the reference findings and labels with the toggle, and remembers the choice", () => {
    const shown: boolean[] = [];
    const panel = open("reviewer", { onReferenceToggle: (value) => shown.push(value) });
    const toggle = document.querySelector<HTMLElement>("[data-testid=show-reference]")!;
    expect(toggle.hidden).toBe(false);
    expect(items()).toHaveLength(2);
    expect(document.querySelector(".reference-labels")?.textContent).toContain("reference L: density B, BI-RADS 5, malignant");
    const box = toggle.querySelector<HTMLInputElement>("input")!;
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    expect(items().map((el) => el.dataset.findingId)).not.toContain(String(reference));
    expect(items()).toHaveLength(1);
    expect(document.querySelector(".reference-labels")).toBeNull();
    expect(panel.showsReference).toBe(false);
    expect(shown).toEqual([false]);
    expect([...Object.keys(localStorage)].length).toBe(0); // no project on this page: nothing to key it by
    panel.setReferenceShown(true);
    expect(items()).toHaveLength(2);
  });

  it("starts hidden when told, and shows no toggle where there is no reference", async () => {
    open("owner", { showReference: false });
    expect(items()).toHaveLength(1);
    document.body.replaceChildren();
    server.findings.delete(reference);
    server.labels = [];
    await store.load();
    open("owner");
    expect(document.querySelector<HTMLElement>("[data-testid=show-reference]")!.hidden).toBe(true);
  });
});
