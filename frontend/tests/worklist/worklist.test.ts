import { beforeEach, describe, expect, it, vi } from "vitest";
import { Api } from "../../src/api";
import type { SenolabConfig } from "../../src/config";
import { readQuery, writeQuery, type WorklistRow } from "../../src/worklist/model";
import { WorklistView } from "../../src/worklist/view";

const config: SenolabConfig = {
  page: "worklist",
  apiBase: "/api/",
  csrfToken: "t",
  user: { id: 1, username: "ana" },
  projects: [
    { id: 1, name: "Demo", role: "annotator" },
    { id: 2, name: "Screening", role: "viewer" },
  ],
  projectId: 1,
};

function row(exam: number, extra: Partial<WorklistRow> = {}): WorklistRow {
  return {
    exam,
    patient: `P-${exam}`,
    study_date: "2020-01-02",
    modalities: ["MG"],
    site: exam % 2 ? "north" : "south",
    description: "",
    status: "assigned",
    readers: [{ reader: "ana", status: "assigned" }],
    birads: "",
    density: "",
    quarantined_images: 0,
    ...extra,
  };
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200 });
}

describe("worklist", () => {
  let calls: { method: string; url: string }[];
  let next: number | null;
  let navigated: string[];
  let search: string;

  function view(initialSearch = ""): WorklistView {
    search = initialSearch;
    const fetchImpl = async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const url = String(input);
      calls.push({ method: init.method ?? "GET", url });
      if (url.startsWith("/api/projects/")) return json({ id: 1, label_schema: { birads: ["1", "2", "4"], density: ["A", "B"] } });
      if (url.startsWith("/api/worklist/next/")) return json({ exam: next });
      if (url.startsWith("/api/slides/?exam=11")) return json({ count: 1, next: null, previous: null, results: [{ id: 9 }] });
      const params = new URL(url, "http://x").searchParams;
      const rows = [row(10, { quarantined_images: 2 }), row(11, { birads: "4", status: "done", modalities: ["SM"] })].filter(
        (r) => !params.get("site") || r.site === params.get("site"),
      );
      return json({
        count: rows.length,
        next: null,
        previous: null,
        results: rows,
        policy: "assigned-then-unassigned",
        done: 1,
        remaining: 3,
        unassigned: 5,
        reading_now: [{ exam: 10, reader: "ben", since: null }],
      });
    };
    const api = new Api("/api/", "t", fetchImpl as typeof fetch);
    const v = new WorklistView(api, config, {
      navigate: (url) => navigated.push(url),
      setSearch: (s) => (search = s),
      search: initialSearch,
    });
    document.body.replaceChildren(v.el);
    return v;
  }

  beforeEach(() => {
    calls = [];
    next = 42;
    navigated = [];
  });

  it("lists my exams with links, counts and who is reading what", async () => {
    const v = view();
    await v.start();
    const rows = document.querySelectorAll<HTMLElement>("[data-testid=worklist] [data-testid=worklist-row]");
    expect([...rows].map((r) => r.dataset.examId)).toEqual(["10", "11"]);
    expect(rows[0].querySelector("a")?.getAttribute("href")).toBe("/exams/10/");
    const counts = document.querySelector<HTMLElement>("[data-testid=worklist-counts]")!;
    expect(counts.textContent).toContain("1 done");
    expect(counts.textContent).toContain("3 remaining");
    expect(document.querySelector("[data-testid=reading-now]")?.textContent).toContain("ben on exam 10");
    await vi.waitFor(() => expect(rows[1].querySelector("[data-testid=slide-link]")?.getAttribute("href")).toBe("/slides/9/"));
    expect(rows[0].querySelector("[data-testid=slide-link]")).toBeNull();
  });

  it("badges the rows of exams with images quarantined for burned-in text", async () => {
    const v = view();
    await v.start();
    const rows = document.querySelectorAll<HTMLElement>("[data-testid=worklist-row]");
    const badge = rows[0].querySelector<HTMLElement>("[data-testid=quarantine-badge]");
    expect(badge?.textContent).toContain("quarantined");
    expect(badge?.title).toContain("2 image(s)");
    expect(rows[1].querySelector("[data-testid=quarantine-badge]")).toBeNull();
  });

  it("offers the project's BI-RADS and density values and filters by site through the API", async () => {
    const v = view();
    await v.start();
    const birads = [...document.querySelectorAll<HTMLOptionElement>("select[name=birads] option")].map((o) => o.value);
    expect(birads).toEqual(["", "1", "2", "4"]);
    const site = document.querySelector<HTMLSelectElement>("select[name=site]")!;
    expect([...site.options].map((o) => o.value)).toEqual(["", "north", "south"]);
    site.value = "south";
    site.dispatchEvent(new Event("change"));
    await v.settled();
    expect(calls.at(-1)?.url).toBe("/api/worklist/?project=1&site=south");
    expect(document.querySelectorAll("[data-testid=worklist-row]")).toHaveLength(1);
    expect(search).toBe("?project=1&site=south");
  });

  it("filters on the clinical record's age range and biopsy outcome through the API", async () => {
    const v = view();
    await v.start();
    const change = (selector: string, value: string) => {
      const input = document.querySelector<HTMLInputElement>(selector)!;
      input.value = value;
      input.dispatchEvent(new Event("change"));
    };
    change("input[name=age_min]", "50");
    await v.settled();
    change("input[name=age_max]", "69");
    await v.settled();
    change("input[name=biopsy_outcome]", " malignant ");
    await v.settled();
    const lists = calls.filter((c) => c.url.startsWith("/api/worklist/?"));
    expect(lists.at(-1)?.url).toBe("/api/worklist/?project=1&biopsy_outcome=malignant&age_min=50&age_max=69");
    expect(search).toBe("?project=1&age_min=50&age_max=69&biopsy_outcome=malignant");
    // The filters come back from the address after a reload
    expect(readQuery(search, 1).filters).toEqual({ age_min: "50", age_max: "69", biopsy_outcome: "malignant" });
    expect(document.querySelector<HTMLInputElement>("input[name=age_min]")!.value).toBe("50");
  });

  it("opens the next exam with the key n", async () => {
    const v = view();
    v.shortcuts.attach(document);
    await v.start();
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "n", bubbles: true }));
    await vi.waitFor(() => expect(navigated).toEqual(["/exams/42/"]));
    expect(calls.find((c) => c.method === "POST")?.url).toBe("/api/worklist/next/?project=1");
    v.shortcuts.dispose();
  });

  it("says so when nothing is left to read", async () => {
    next = null;
    const v = view();
    await v.start();
    document.querySelector<HTMLButtonElement>("[data-testid=next-exam]")!.click();
    await vi.waitFor(() => expect(document.body.textContent).toContain("Nothing left to read"));
    expect(navigated).toEqual([]);
  });

  it("keeps project and filters in the address", () => {
    const q = readQuery("?project=2&modality=US&page=3&bogus=1", 1);
    expect(q).toEqual({ project: 2, filters: { modality: "US" }, page: 3 });
    expect(writeQuery(q)).toBe("?project=2&modality=US&page=3");
    expect(readQuery("", 1).project).toBe(1);
  });
});
