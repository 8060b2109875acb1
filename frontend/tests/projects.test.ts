import { describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import type { SenolabConfig } from "../src/config";
import { ProjectsView, slugify } from "../src/projects/view";
import { navLinks } from "../src/worklist/nav";

const config: SenolabConfig = {
  page: "projects",
  apiBase: "/api/",
  csrfToken: "t",
  user: { id: 1, username: "ana" },
  projects: [{ id: 1, name: "Demo", role: "annotator" }],
  projectId: 1,
};

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status });
}

const demo = { id: 1, name: "Demo", slug: "demo", description: "Screening exams of 2026", created_at: "", role: "owner" };
const members = [{ id: 5, username: "ana", role: "owner", created_at: "" }];

describe("navigation", () => {
  it("links the pages a user needs, the admin for staff only", () => {
    expect(navLinks(config).map((l) => l.href)).toEqual(["/?project=1", "/projects/", "/ml/runs/", "/api/docs/"]);
    const staff = navLinks({ ...config, user: { ...config.user, isStaff: true } });
    expect(staff.map((l) => l.name)).toContain("Admin");
  });
});

describe("projects page", () => {
  it("makes a short name a URL accepts", () => {
    expect(slugify("Screening 2026 – Île")).toBe("screening-2026-ile");
    expect(slugify("!!!")).toBe("project");
  });

  it("shows an owner's project with its members and shows a refusal as the API's words", async () => {
    const fetchImpl = vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === "POST") {
        return json(403, { error: { code: "permission_denied", message: "Your role in the project does not allow this." } });
      }
      if (url.startsWith("/api/projects/1/members/")) return json(200, { count: 1, next: null, previous: null, results: members });
      return json(200, { count: 1, next: null, previous: null, results: [demo] });
    });
    const view = new ProjectsView(new Api("/api/", "t", fetchImpl as unknown as typeof fetch), config, { search: "", navigate: () => {} });
    document.body.replaceChildren(view.el);
    await view.start();
    expect(view.el.querySelector("[data-testid=member]")?.getAttribute("data-username")).toBe("ana");
    // the stored description is in its box, so saving the name does not wipe it
    expect(view.el.querySelector<HTMLTextAreaElement>("textarea[name=description]")!.value).toBe("Screening exams of 2026");
    expect(view.el.querySelector("[data-testid=review-settings]")).not.toBeNull();

    const form = view.el.querySelector<HTMLFormElement>("[data-testid=member-add]")!;
    form.querySelector<HTMLInputElement>("input[name=username]")!.value = "bo";
    form.dispatchEvent(new Event("submit", { cancelable: true }));
    await vi.waitFor(() => expect(view.el.querySelector("[data-testid=projects-message]")?.textContent).toMatch(/^Not allowed: Your role/));
    const [url, init] = fetchImpl.mock.calls.find(([, i]) => i?.method === "POST")!;
    expect(url).toBe("/api/projects/1/members/");
    expect(JSON.parse(String(init!.body))).toEqual({ username: "bo", role: "annotator" });
  });
});
