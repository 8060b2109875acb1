/** The app's navigation, the same on the worklist and the projects page: where a signed-in
 * user can go (worklist, projects, models, API docs, admin for staff) and a sign-out that posts
 * to /logout/ with the page's CSRF token (Django's LogoutView accepts POST only). */

import type { SenolabConfig } from "../config";
import { h } from "../findings/dom";
import "./nav.css";

export interface NavLink {
  name: string;
  href: string;
  title: string;
}

export function navLinks(config: SenolabConfig): NavLink[] {
  const project = config.projectId ? `?project=${config.projectId}` : "";
  const links: NavLink[] = [
    { name: "Worklist", href: `/${project}`, title: "Exams to read" },
    { name: "Projects", href: "/projects/", title: "Projects, members and roles" },
    { name: "Models", href: "/ml/runs/", title: "Training runs and model versions" },
    { name: "API docs", href: "/api/docs/", title: "The REST API, interactive" },
  ];
  if (config.user.isStaff) links.push({ name: "Admin", href: "/admin/", title: "Django admin (staff)" });
  return links;
}

/** The links, the user's name and the sign-out button; `current` is the page's own link. */
export function appNav(config: SenolabConfig, current: string): HTMLElement {
  const signOut = h(
    "form",
    { className: "sign-out", method: "post", action: "/logout/" },
    h("input", { type: "hidden", name: "csrfmiddlewaretoken", value: config.csrfToken }),
    h("button", { type: "submit", dataset: { action: "sign-out" }, title: `Signed in as ${config.user.username}` }, "Sign out"),
  );
  return h(
    "nav",
    { className: "app-nav", "aria-label": "Senolab", dataset: { testid: "app-nav" } },
    ...navLinks(config).map((link) =>
      h("a", { href: link.href, title: link.title, "aria-current": link.name === current ? "page" : undefined }, link.name),
    ),
    h("span", { className: "muted user" }, config.user.username),
    signOut,
  );
}
