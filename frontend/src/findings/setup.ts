/** One call that gives a page its annotation side: the project's label schema, a loaded
 * FindingStore, the findings panel, save status, conflict dialog, keyboard map (with undo/redo
 * and the help overlay) and the warning on leaving with unsaved changes. */

import type { Api } from "../api";
import type { SenolabConfig } from "../config";
import { Shortcuts } from "../shortcuts";
import { ConflictDialog } from "./conflict";
import { FindingsPanel, type PanelOptions } from "./panel";
import { SaveStatus } from "./status";
import { FindingStore } from "./store";
import { DEFAULT_SCHEMA, type LabelSchema } from "./types";

/** The project's label schema (GET /api/projects/{id}/), the default when it has none. */
export async function loadSchema(api: Api, projectId: number | null | undefined): Promise<LabelSchema> {
  if (!projectId) return DEFAULT_SCHEMA;
  const project = await api.GET("/api/projects/{id}/", { path: { id: projectId } });
  const schema = (project.label_schema ?? {}) as Partial<LabelSchema>;
  return {
    finding_types: schema.finding_types?.length ? schema.finding_types : DEFAULT_SCHEMA.finding_types,
    birads: schema.birads?.length ? schema.birads : DEFAULT_SCHEMA.birads,
    density: schema.density?.length ? schema.density : DEFAULT_SCHEMA.density,
    pathology: schema.pathology?.length ? schema.pathology : DEFAULT_SCHEMA.pathology,
    attributes: schema.attributes ?? {},
  };
}

export interface FindingsSetup {
  schema: LabelSchema;
  store: FindingStore;
  panel: FindingsPanel;
  status: SaveStatus;
  conflict: ConflictDialog;
  shortcuts: Shortcuts;
  dispose: () => void;
}

export interface SetupOptions extends Omit<PanelOptions, "schema"> {
  exam: number;
  slide?: number;
  debounceMs?: number;
  /** Register the panel's keys and listen on the document now (default); false: the page adds
   * its own keys, then the panel's (`panel.registerShortcuts`), and attaches them itself. */
  attachKeys?: boolean;
}

export async function setupFindings(api: Api, config: SenolabConfig, options: SetupOptions): Promise<FindingsSetup> {
  const schema = await loadSchema(api, config.projectId);
  const store = new FindingStore(api, {
    exam: options.exam,
    slide: options.slide,
    userId: config.user.id,
    debounceMs: options.debounceMs,
    fetchBinary: async (url) => {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.blob();
    },
  });
  await store.load();
  const panel = new FindingsPanel(store, { ...options, schema });
  const status = new SaveStatus(store);
  const conflict = new ConflictDialog(store, document.body);
  const shortcuts = new Shortcuts(document);
  if (options.attachKeys !== false) panel.registerShortcuts(shortcuts);
  const detachKeys = options.attachKeys === false ? () => shortcuts.dispose() : shortcuts.attach(document);
  const unguard = store.guardUnload(window);
  return {
    schema,
    store,
    panel,
    status,
    conflict,
    shortcuts,
    dispose: () => {
      detachKeys();
      unguard();
      panel.dispose();
      status.dispose();
      conflict.dispose();
      store.dispose();
    },
  };
}
