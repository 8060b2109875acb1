/** The projects page: the list of my projects with my role, a form to create one, and the
 * chosen project's name, description and members. Owners edit them; everyone else reads them.
 * Every write goes through the projects API (/api/projects/, /api/projects/{id}/members/);
 * a refusal (403: not an owner; 400: a user who does not exist, the last owner) is shown as
 * the API's message, and the page reloads what is stored. */

import { ApiError, type Api, type Schemas } from "../api";
import type { Role, SenolabConfig } from "../config";
import { h } from "../findings/dom";
import { appNav } from "../worklist/nav";
import { ClinicalImportPanel } from "./clinicalImport";
import { ExportPanel } from "./exportPanel";
import { ReviewSettingsPanel } from "./reviewSettings";
import "./projects.css";

type Project = Schemas["Project"];
type Member = Schemas["Membership"];

export const ROLES: [Role, string][] = [
  ["viewer", "Viewer: reads exams and labels"],
  ["annotator", "Annotator: reads and labels"],
  ["reviewer", "Reviewer: also reviews others' labels"],
  ["owner", "Owner: also manages the project and its members"],
];

/** A URL-safe short name from a project's name ("Screening 2026" -> "screening-2026"). */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 100);
  return slug || "project";
}

export interface ProjectsEnv {
  search: string;
  navigate: (url: string) => void;
}

const browserEnv = (): ProjectsEnv => ({
  search: window.location.search,
  navigate: (url) => window.location.assign(url),
});

function roleSelect(name: string, current: string, onChange?: (role: Role) => void): HTMLSelectElement {
  const el = h("select", { name, on: onChange ? { change: (e: Event) => onChange((e.target as HTMLSelectElement).value as Role) } : {} });
  for (const [value, title] of ROLES) el.append(h("option", { value, title }, value));
  el.value = current;
  return el;
}

export class ProjectsView {
  readonly el: HTMLElement;
  private projects: Project[] = [];
  private chosen: Project | null = null;
  private readonly listEl = h("ul", { className: "project-list", dataset: { testid: "project-list" } });
  private readonly detailEl = h("section", { className: "project-detail", dataset: { testid: "project-detail" } });
  private readonly messageEl = h("div", { className: "notice", hidden: true, role: "alert", dataset: { testid: "projects-message" } });

  constructor(
    private readonly api: Api,
    private readonly config: SenolabConfig,
    private readonly env: ProjectsEnv = browserEnv(),
  ) {
    this.el = h(
      "div",
      { className: "projects-page" },
      h(
        "header",
        { className: "topbar" },
        h("a", { className: "brand", href: "/", title: "Back to the worklist" }, "Senolab"),
        h("h1", {}, "Projects"),
        h("span", { className: "spacer" }),
        appNav(config, "Projects"),
      ),
      this.messageEl,
      h("main", { className: "projects-body" }, h("aside", { className: "projects-side" }, h("h2", {}, "My projects"), this.listEl, this.createForm()), this.detailEl),
    );
  }

  async start(): Promise<void> {
    await this.reload(Number(new URLSearchParams(this.env.search).get("project")) || this.config.projectId || null);
  }

  /** Show the API's refusal in words; anything else as it came. */
  message(text: string | null, kind: "error" | "ok" = "error"): void {
    this.messageEl.hidden = !text;
    this.messageEl.className = `notice${kind === "error" ? " error" : ""}`;
    this.messageEl.textContent = text ?? "";
  }

  private async guarded(work: () => Promise<unknown>, done?: string): Promise<boolean> {
    try {
      await work();
      this.message(done ?? null, "ok");
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        this.message(`Not allowed: ${err.message} Only the project's owners manage it and its members.`);
      } else this.message(err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  private async reload(chosenId: number | null): Promise<void> {
    await this.guarded(async () => {
      this.projects = await this.api.list("/api/projects/", { query: { ordering: "name" } });
      this.chosen = this.projects.find((p) => p.id === chosenId) ?? this.projects[0] ?? null;
      this.renderList();
      await this.renderDetail();
    });
  }

  private renderList(): void {
    this.listEl.replaceChildren(
      ...this.projects.map((p) =>
        h(
          "li",
          { className: p.id === this.chosen?.id ? "selected" : "" },
          h("button", { className: "link", dataset: { projectId: p.id }, on: { click: () => void this.choose(p) } }, p.name),
          h("span", { className: "muted" }, ` ${p.role ?? ""}`),
        ),
      ),
    );
    if (!this.projects.length) this.listEl.append(h("li", { className: "muted" }, "You are not a member of any project yet."));
  }

  private async choose(project: Project): Promise<void> {
    this.chosen = project;
    this.message(null);
    this.renderList();
    await this.renderDetail();
  }

  private createForm(): HTMLElement {
    const name = h("input", { name: "new_name", required: true, maxLength: 200, placeholder: "Name" });
    const description = h("textarea", { name: "new_description", rows: 2, placeholder: "Description (optional)" });
    const form = h(
      "form",
      { className: "project-create", dataset: { testid: "project-create" } },
      h("h2", {}, "New project"),
      name,
      description,
      h("button", { type: "submit", className: "primary" }, "Create project"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.guarded(async () => {
        const created = await this.api.POST("/api/projects/", {
          body: { name: name.value.trim(), slug: slugify(name.value), description: description.value },
        });
        form.reset();
        await this.reload(created.id);
      }, "Project created: you are its owner.");
    });
    return form;
  }

  private async renderDetail(): Promise<void> {
    const project = this.chosen;
    if (!project) {
      this.detailEl.replaceChildren(h("p", { className: "muted" }, "Create a project, or ask an owner to add you to theirs."));
      return;
    }
    const owner = project.role === "owner";
    const members = await this.api.list("/api/projects/{project_pk}/members/", { path: { project_pk: project.id } });
    const name = h("input", { name: "name", value: project.name, maxLength: 200, disabled: !owner });
    // A textarea's text is its child: a "value" attribute would leave it empty (and a save would
    // wipe the stored description).
    const description = h("textarea", { name: "description", rows: 3, disabled: !owner }, project.description ?? "");
    const about = h(
      "form",
      { className: "project-about" },
      h("label", { className: "field" }, h("span", {}, "Name"), name),
      h("label", { className: "field" }, h("span", {}, "Description"), description),
      owner ? h("button", { type: "submit", dataset: { action: "save-project" } }, "Save") : h("p", { className: "muted" }, `You are ${project.role ?? "not a member"} here: only owners change the project.`),
    );
    about.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.guarded(async () => {
        const saved = await this.api.PATCH("/api/projects/{id}/", {
          path: { id: project.id },
          body: { name: name.value.trim(), description: description.value },
        });
        await this.reload(saved.id);
      }, "Saved.");
    });
    this.detailEl.replaceChildren(
      h("h2", {}, project.name),
      h("p", {}, h("a", { href: `/?project=${project.id}` }, "Open its worklist")),
      about,
      h("h3", {}, "Members"),
      this.membersTable(project, members, owner),
      ...(owner ? [this.addMemberForm(project)] : []),
      new ReviewSettingsPanel(this.api, project, owner, (saved) => {
        this.chosen = saved;
        this.projects = this.projects.map((p) => (p.id === saved.id ? saved : p));
      }).el,
    );
    if (owner || project.role === "reviewer" || project.role === "annotator") {
      // Annotators and above import clinical records (the API checks the same roles).
      this.detailEl.append(new ClinicalImportPanel(this.api, project.id).el);
    }
    if (owner || project.role === "reviewer") {
      // Reviewers and owners export (the API checks the same roles).
      const panel = new ExportPanel(this.api, project, members.map((m) => m.username));
      this.detailEl.append(panel.el);
      await panel.refresh();
    }
  }

  private membersTable(project: Project, members: Member[], owner: boolean): HTMLElement {
    const rows = members.map((m) =>
      h(
        "tr",
        { dataset: { testid: "member", username: m.username } },
        h("td", {}, m.username),
        h(
          "td",
          {},
          owner
            ? roleSelect(`role_${m.id}`, m.role ?? "viewer", (role) =>
                void this.guarded(async () => {
                  await this.api.PATCH("/api/projects/{project_pk}/members/{id}/", { path: { project_pk: project.id, id: m.id }, body: { role } });
                  await this.reload(project.id);
                }, `${m.username} is now ${role}.`),
              )
            : (m.role ?? ""),
        ),
        h(
          "td",
          {},
          owner
            ? h(
                "button",
                {
                  className: "link danger",
                  dataset: { action: "remove-member" },
                  title: `Remove ${m.username} from the project`,
                  on: {
                    click: () =>
                      void this.guarded(async () => {
                        await this.api.DELETE("/api/projects/{project_pk}/members/{id}/", { path: { project_pk: project.id, id: m.id } });
                        await this.reload(project.id);
                      }, `${m.username} was removed.`),
                  },
                },
                "Remove",
              )
            : null,
        ),
      ),
    );
    return h(
      "table",
      { className: "members", dataset: { testid: "members" } },
      h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Role"), h("th", {}, ""))),
      h("tbody", {}, ...rows),
    );
  }

  private addMemberForm(project: Project): HTMLElement {
    const username = h("input", { name: "username", required: true, placeholder: "User name", autocomplete: "off" });
    const role = roleSelect("role", "annotator");
    const form = h(
      "form",
      { className: "member-add", dataset: { testid: "member-add" } },
      h("label", { className: "field" }, h("span", {}, "Add a member"), username),
      role,
      h("button", { type: "submit", className: "primary" }, "Add"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const who = username.value.trim();
      void this.guarded(async () => {
        await this.api.POST("/api/projects/{project_pk}/members/", {
          path: { project_pk: project.id },
          body: { username: who, role: role.value as Role },
        });
        await this.reload(project.id);
      }, `${who} was added as ${role.value}.`);
    });
    return form;
  }
}
