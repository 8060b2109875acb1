/** The worklist page: project picker, my counts, "next exam" (key n), filters, the table of
 * exams (rows link to /exams/ID/; j/k or arrows move, Enter opens) and who is reading what. */

import { ApiError, type Api } from "../api";
import type { SenolabConfig } from "../config";
import { h, humanize, select } from "../findings/dom";
import { loadSchema } from "../findings/setup";
import { DEFAULT_SCHEMA, type LabelSchema } from "../findings/types";
import { quarantineBadge } from "../quarantine";
import { Shortcuts } from "../shortcuts";
import {
  examUrl,
  fetchWorklist,
  MODALITIES,
  nextExam,
  readQuery,
  STATUSES,
  writeQuery,
  type FilterName,
  type WorklistPage,
  type WorklistQuery,
} from "./model";
import { AssignPanel } from "./assign";
import { PreannotatePanel } from "./preannotate";
import { appNav } from "./nav";

export interface WorklistEnv {
  navigate: (url: string) => void;
  /** Keeps the query in the address bar (history.replaceState in the browser). */
  setSearch: (search: string) => void;
  search: string;
}

const browserEnv = (): WorklistEnv => ({
  navigate: (url) => window.location.assign(url),
  setSearch: (search) => window.history.replaceState(null, "", `${window.location.pathname}${search}`),
  search: window.location.search,
});

function date(value: string | null): string {
  return value ? value.slice(0, 10) : "—";
}

export class WorklistView {
  readonly el: HTMLElement;
  readonly shortcuts: Shortcuts;
  private query: WorklistQuery;
  private data: WorklistPage | null = null;
  private schema: LabelSchema = DEFAULT_SCHEMA;
  private sites = new Set<string>();
  private cursor = -1;
  private readonly countsEl = h("div", { className: "counts", dataset: { testid: "worklist-counts" } });
  private readonly filtersEl = h("div", { className: "worklist-filters" });
  private readonly tbody = h("tbody");
  private readonly readingEl = h("p", { className: "reading-now muted", dataset: { testid: "reading-now" } });
  private readonly noticeEl = h("div", { className: "notice", hidden: true, role: "status" });
  private readonly pagerEl = h("div", { className: "pager" });
  private readonly nextButton: HTMLButtonElement;
  private loading: Promise<void> | null = null;
  /** Owners and reviewers tick exams and assign readers (src/worklist/assign.ts). */
  private readonly assign: AssignPanel | null = null;
  /** Owners and reviewers pre-annotate the ticked exams or the project (src/worklist/preannotate.ts). */
  private readonly preannotate: PreannotatePanel | null = null;

  constructor(
    private readonly api: Api,
    config: SenolabConfig,
    private readonly env: WorklistEnv = browserEnv(),
  ) {
    const fallback = config.projectId ?? config.projects[0]?.id ?? null;
    this.query = readQuery(env.search, fallback);
    this.nextButton = h(
      "button",
      { className: "primary", dataset: { testid: "next-exam", action: "next-exam" }, title: "Open the next exam to read (n)", on: { click: () => void this.openNext() } },
      "Next exam",
      h("kbd", {}, "n"),
    );
    const projectPicker = select(
      "project",
      config.projects.map((p) => String(p.id)),
      this.query.project ? String(this.query.project) : "",
      (value) => void this.setProject(Number(value) || null),
      { label: "choose a project", titles: Object.fromEntries(config.projects.map((p) => [String(p.id), p.name])) },
    );
    const role = config.projects.find((p) => p.id === this.query.project)?.role;
    const project = this.query.project;
    const manages = !!project && (role === "owner" || role === "reviewer");
    if (manages) {
      const assign = new AssignPanel(api, project, () => void this.load(), () => this.preannotate?.refresh());
      this.assign = assign;
      this.preannotate = new PreannotatePanel(api, project, () => assign.selected);
    }
    const readerPages = manages
      ? h(
          "span",
          { className: "reader-pages" },
          h("a", { href: `/projects/${project}/adjudication/`, dataset: { testid: "adjudication-link" } }, "Adjudication"),
          " · ",
          h("a", { href: `/projects/${project}/agreement/`, dataset: { testid: "agreement-link" } }, "Agreement"),
        )
      : null;
    const table = h(
      "table",
      { className: "worklist", dataset: { testid: "worklist" } },
      h(
        "thead",
        {},
        h("tr", {}, ...(this.assign ? [""] : []), ...["Exam", "Patient", "Study date", "Modality", "Site", "Description", "BI-RADS", "Density", "My status", "Readers"].map((t) => h("th", {}, t))),
      ),
      this.tbody,
    );
    this.el = h(
      "div",
      { className: "worklist-page" },
      h(
        "header",
        { className: "topbar" },
        h("span", { className: "brand" }, "Senolab"),
        h("h1", {}, "Worklist"),
        projectPicker,
        h("span", { className: "spacer" }),
        appNav(config, "Worklist"),
        h("button", { title: "Keyboard shortcuts (?)", on: { click: () => this.shortcuts.toggleHelp() } }, "?"),
      ),
      h(
        "main",
        { className: "worklist-body" },
        h("div", { className: "worklist-bar" }, this.countsEl, this.nextButton, readerPages, h("span", { className: "spacer" }), this.filtersEl),
        this.assign?.el ?? null,
        this.preannotate?.el ?? null,
        this.noticeEl,
        this.readingEl,
        table,
        this.pagerEl,
      ),
    );
    this.shortcuts = new Shortcuts(document);
    this.registerShortcuts();
  }

  private registerShortcuts(): void {
    const group = "Worklist";
    this.shortcuts.add({ keys: "n", description: "Open the next exam", group, run: () => void this.openNext() });
    this.shortcuts.add({ keys: ["j", "ArrowDown"], description: "Move down the list", group, run: () => this.move(1) });
    this.shortcuts.add({ keys: ["k", "ArrowUp"], description: "Move up the list", group, run: () => this.move(-1) });
    this.shortcuts.add({ keys: "Enter", description: "Open the exam under the cursor", group, run: () => this.openCursor() });
    this.shortcuts.add({ keys: "r", description: "Refresh", group, run: () => void this.load() });
    this.shortcuts.add({ keys: "/", description: "Go to the filters", group, run: () => this.filtersEl.querySelector("select")?.focus() });
  }

  /** Load the schema (for the BI-RADS and density filters) and the first page. */
  async start(): Promise<void> {
    this.renderFilters();
    if (!this.query.project) {
      this.notice("You are not a member of any project yet: ask a project owner to add you.");
      this.nextButton.disabled = true;
      return;
    }
    try {
      this.schema = await loadSchema(this.api, this.query.project);
    } catch {
      this.schema = DEFAULT_SCHEMA; // the list still works with the default vocabulary
    }
    this.renderFilters();
    await this.load();
  }

  load(): Promise<void> {
    const run = async () => {
      if (!this.query.project) return;
      this.env.setSearch(writeQuery(this.query));
      try {
        const data = await fetchWorklist(this.api, this.query);
        this.data = data;
        for (const row of data.results) if (row.site) this.sites.add(row.site);
        this.notice("");
        this.render();
      } catch (err) {
        this.notice(err instanceof Error ? err.message : String(err), true);
      }
    };
    this.loading = run();
    return this.loading;
  }

  async setProject(project: number | null): Promise<void> {
    this.query = { project, filters: {}, page: 1 };
    this.sites.clear();
    await this.start();
  }

  async setFilter(name: FilterName, value: string): Promise<void> {
    this.query = { ...this.query, filters: { ...this.query.filters, [name]: value || undefined }, page: 1 };
    this.cursor = -1;
    await this.load();
  }

  async openNext(): Promise<void> {
    if (!this.query.project || this.nextButton.disabled) return;
    this.nextButton.disabled = true;
    try {
      const exam = await nextExam(this.api, this.query.project);
      if (exam === null) {
        this.notice("Nothing left to read in this project: every exam is done or taken.");
        return;
      }
      this.env.navigate(examUrl(exam));
    } catch (err) {
      const message = err instanceof ApiError && err.status === 403 ? "Your role in this project does not allow reading (annotator needed)." : err instanceof Error ? err.message : String(err);
      this.notice(message, true);
    } finally {
      this.nextButton.disabled = false;
    }
  }

  private move(delta: number): void {
    const rows = this.data?.results ?? [];
    if (!rows.length) return;
    this.cursor = Math.max(0, Math.min(rows.length - 1, this.cursor + delta));
    this.tbody.querySelectorAll("tr").forEach((tr, i) => tr.classList.toggle("cursor", i === this.cursor));
    this.tbody.querySelectorAll("tr")[this.cursor]?.scrollIntoView?.({ block: "nearest" });
  }

  private openCursor(): void {
    const row = this.data?.results[this.cursor];
    if (row) this.env.navigate(examUrl(row.exam));
  }

  private notice(message: string, error = false): void {
    this.noticeEl.hidden = !message;
    this.noticeEl.textContent = message;
    this.noticeEl.classList.toggle("error", error);
  }

  private renderFilters(): void {
    const f = this.query.filters;
    const on = (name: FilterName) => (value: string) => void this.setFilter(name, value);
    const sites = [...this.sites].sort();
    const labelled = (text: string, ...controls: (HTMLElement | string)[]) => h("label", {}, text, ...controls);
    this.filtersEl.replaceChildren(
      labelled("Modality", select("modality", MODALITIES, f.modality ?? "", on("modality"), { label: "all" })),
      labelled("Status", select("status", STATUSES.map(([v]) => v), f.status ?? "", on("status"), { label: "mine + open", titles: Object.fromEntries(STATUSES) })),
      labelled("BI-RADS", select("birads", this.schema.birads, f.birads ?? "", on("birads"), { label: "all" })),
      labelled("Density", select("density", this.schema.density, f.density ?? "", on("density"), { label: "all" })),
      labelled("Site", select("site", sites, f.site ?? "", on("site"), { label: "all" })),
      // The clinical record: age at exam from/to and the biopsy outcome.
      labelled("Age", ageInput("age_min", "from", f.age_min, on("age_min")), "–", ageInput("age_max", "to", f.age_max, on("age_max"))),
      labelled(
        "Biopsy",
        h("input", {
          name: "biopsy_outcome",
          type: "text",
          size: 9,
          list: "worklist-outcomes",
          placeholder: "any",
          "aria-label": "biopsy outcome",
          value: f.biopsy_outcome ?? "",
          on: { change: (e: Event) => on("biopsy_outcome")((e.target as HTMLInputElement).value.trim()) },
        }),
        h("datalist", { id: "worklist-outcomes" }, ...["benign", "malignant", "high-risk", "atypia"].map((o) => h("option", { value: o }))),
      ),
    );
  }

  private render(): void {
    const data = this.data;
    if (!data) return;
    const focused = document.activeElement instanceof HTMLSelectElement ? document.activeElement.name : null;
    this.renderFilters();
    if (focused) this.filtersEl.querySelector<HTMLSelectElement>(`select[name="${focused}"]`)?.focus();
    this.countsEl.replaceChildren(
      h("span", { className: "done" }, h("b", {}, String(data.done)), " done"),
      h("span", { className: "remaining" }, h("b", {}, String(data.remaining)), " remaining"),
      h("span", {}, h("b", {}, String(data.unassigned)), " unassigned"),
      h("span", { className: "muted" }, `${data.count} listed`),
    );
    this.countsEl.dataset.done = String(data.done);
    this.countsEl.dataset.remaining = String(data.remaining);
    this.readingEl.textContent = data.reading_now.length
      ? `Reading now: ${data.reading_now.map((r) => `${r.reader} on exam ${r.exam}`).join(" · ")}`
      : "Nobody is reading an exam right now.";
    if (!data.results.length) {
      this.tbody.replaceChildren(h("tr", {}, h("td", { colSpan: this.assign ? 11 : 10, className: "muted" }, "No exams match these filters.")));
    } else {
      this.tbody.replaceChildren(...data.results.map((row, i) => this.row(row, i)));
    }
    this.renderPager(data);
    void this.linkSlides(data);
  }

  /** Rows of exams with slides get links straight to their slide viewers. */
  private async linkSlides(data: WorklistPage): Promise<void> {
    for (const row of data.results) {
      if (!row.modalities.includes("SM")) continue;
      let slides: { id: number }[];
      try {
        slides = await this.api.list("/api/slides/", { query: { exam: row.exam } });
      } catch {
        continue; // the row still opens the exam
      }
      if (this.data !== data) return; // a newer list replaced this one
      const cell = this.tbody.querySelector(`[data-exam-id="${row.exam}"] .modalities`);
      for (const slide of slides) {
        cell?.append(" ", h("a", { href: `/slides/${slide.id}/`, dataset: { testid: "slide-link" }, title: "Open the slide viewer" }, `slide ${slide.id}`));
      }
    }
  }

  private row(row: WorklistPage["results"][number], index: number): HTMLElement {
    const url = examUrl(row.exam);
    const readers = row.readers.map((r) => `${r.reader}${r.status === "done" ? " ✓" : r.status === "in_progress" ? " …" : ""}`).join(", ");
    const tr = h(
      "tr",
      {
        className: index === this.cursor ? "cursor" : "",
        dataset: { testid: "worklist-row", examId: row.exam, status: row.status },
        on: {
          click: (e: Event) => {
            if ((e.target as HTMLElement).closest("a")) return; // the link navigates itself
            this.env.navigate(url);
          },
        },
      },
      this.assign?.checkbox(row.exam) ?? null,
      h("td", {}, h("a", { href: url }, `#${row.exam}`)),
      h("td", {}, row.patient),
      h("td", {}, date(row.study_date)),
      h(
        "td",
        { className: "modalities" },
        row.modalities.join(", ") || "—",
        row.quarantined_images ? quarantineBadge(`${row.quarantined_images} image(s) may carry burned-in text`) : null,
      ),
      h("td", {}, row.site || "—"),
      h("td", { className: "muted" }, row.description || ""),
      h("td", {}, row.birads ? h("span", { className: "birads" }, row.birads) : "—"),
      h("td", {}, row.density || "—"),
      h("td", {}, h("span", { className: `status-pill ${row.status}` }, humanize(row.status))),
      h("td", { className: "muted" }, readers || "—"),
    );
    return tr;
  }

  private renderPager(data: WorklistPage): void {
    if (!data.next && !data.previous) {
      this.pagerEl.replaceChildren();
      return;
    }
    const go = (page: number) => {
      this.query = { ...this.query, page };
      void this.load();
    };
    this.pagerEl.replaceChildren(
      h("button", { disabled: !data.previous, on: { click: () => go(this.query.page - 1) } }, "‹ Previous"),
      h("span", { className: "muted" }, `page ${this.query.page}`),
      h("button", { disabled: !data.next, on: { click: () => go(this.query.page + 1) } }, "Next ›"),
    );
  }

  /** Resolves when the latest load finished (tests). */
  settled(): Promise<void> {
    return this.loading ?? Promise.resolve();
  }
}

/** A whole-years box of the worklist's age filter (empty: no bound). */
function ageInput(name: string, placeholder: string, value: string | undefined, onChange: (value: string) => void): HTMLInputElement {
  return h("input", {
    name,
    type: "number",
    min: "0",
    max: "150",
    step: "1",
    placeholder,
    "aria-label": `age ${placeholder}`,
    className: "age",
    value: value ?? "",
    on: { change: (e: Event) => onChange((e.target as HTMLInputElement).value.trim()) },
  });
}
