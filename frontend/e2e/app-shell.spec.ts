/** The app around the viewers: API docs offline, navigation and sign-out (on the worklist and
 * the ML pages), the projects page, the exam page's header at 1600 px, and descriptors that fit
 * the finding. */

import { expect, test, type Page } from "@playwright/test";
import { apiGet, keepScreenshot, SECOND, signIn } from "./helpers";

/** Open the first four-view mammography exam of the worklist; its id. */
async function openMammo(page: Page): Promise<number> {
  const row = page.getByTestId("worklist-row").filter({ hasText: "MG" }).first();
  await expect(row).toBeVisible();
  const exam = Number(await row.getAttribute("data-exam-id"));
  await page.goto(`/exams/${exam}/`);
  await expect(page.getByTestId("viewer")).toHaveAttribute("data-layout", "mammo");
  return exam;
}

test("/api/docs/ renders Swagger UI with every host but 127.0.0.1 blocked", async ({ page }) => {
  const blocked: string[] = [];
  await page.route("**/*", (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === "127.0.0.1") return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  await page.goto("/api/docs/");
  await expect(page.locator(".swagger-ui .info .title")).toContainText("Senolab API", { timeout: 30_000 });
  await expect(page.locator(".swagger-ui .opblock").first()).toBeVisible();
  await expect(page.locator(".swagger-ui .opblock-tag", { hasText: "projects" }).first()).toBeVisible();
  expect(blocked, "the docs page asked other hosts").toEqual([]);
});

test("the worklist links to projects, models and the API docs, and signing out ends the session", async ({ page }) => {
  await signIn(page);
  const nav = page.getByTestId("app-nav");
  for (const [name, href] of [["Projects", "/projects/"], ["Models", "/ml/runs/"], ["API docs", "/api/docs/"]]) {
    await expect(nav.getByRole("link", { name, exact: true })).toHaveAttribute("href", href);
  }
  // The admin is for staff; the e2e reader is not.
  await expect(nav.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await nav.getByRole("link", { name: "Projects", exact: true }).click();
  await expect(page).toHaveURL(/\/projects\/$/);
  await expect(page.getByRole("heading", { name: "Projects", exact: true, level: 1 })).toBeVisible();

  await page.getByTestId("app-nav").getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\/$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\/\?next=/);
});

test("the ML pages carry the app's navigation, and its links lead to the worklist, projects and API docs", async ({ page }) => {
  await signIn(page);
  await page.goto("/ml/runs/");
  await expect(page.getByRole("heading", { name: "Training runs and models", level: 1 })).toBeVisible();
  const nav = page.getByTestId("app-nav");
  await expect(nav).toHaveCount(1);
  for (const [name, href] of [["Worklist", /^\/(\?project=\d+)?$/], ["Projects", /^\/projects\/$/], ["Models", /^\/ml\/runs\/$/], ["API docs", /^\/api\/docs\/$/]] as const) {
    await expect(nav.getByRole("link", { name, exact: true })).toHaveAttribute("href", href);
  }
  // The page's own link is marked as the current one, as on the worklist and projects pages.
  await expect(nav.getByRole("link", { name: "Models", exact: true })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await expect(nav.getByRole("button", { name: "Sign out" })).toBeVisible();

  await nav.getByRole("link", { name: "Worklist", exact: true }).click();
  await expect(page).toHaveURL(/\/(\?project=\d+)?$/);
  await expect(page.getByRole("heading", { name: "Worklist", level: 1 })).toBeVisible();
  await page.getByTestId("app-nav").getByRole("link", { name: "Models", exact: true }).click();
  await expect(page).toHaveURL(/\/ml\/runs\/$/);
  await page.getByTestId("app-nav").getByRole("link", { name: "Projects", exact: true }).click();
  await expect(page).toHaveURL(/\/projects\/$/);
  await page.goto("/ml/runs/");
  await page.getByTestId("app-nav").getByRole("link", { name: "API docs", exact: true }).click();
  await expect(page).toHaveURL(/\/api\/docs\/$/);
  await expect(page.locator(".swagger-ui .info .title")).toContainText("Senolab API", { timeout: 30_000 });

  // Signing out from an ML page ends the session too.
  await page.goto("/ml/runs/");
  await page.getByTestId("app-nav").getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\/$/);
  await page.goto("/ml/runs/");
  await expect(page).toHaveURL(/\/login\/\?next=/);
});

test("an owner creates a project, adds a member, changes the role and removes them", async ({ page }) => {
  await signIn(page);
  await page.goto("/projects/");
  const name = `Shell ${Date.now()}`;
  const create = page.getByTestId("project-create");
  await create.getByPlaceholder("Name").fill(name);
  await create.getByRole("button", { name: "Create project" }).click();
  const detail = page.getByTestId("project-detail");
  await expect(detail.getByRole("heading", { name })).toBeVisible();

  const add = page.getByTestId("member-add");
  await add.getByLabel("Add a member").fill(SECOND);
  await add.locator("select[name=role]").selectOption("annotator");
  await add.getByRole("button", { name: "Add" }).click();
  const member = page.locator(`[data-testid=member][data-username="${SECOND}"]`);
  await expect(member).toBeVisible();
  await expect(page.getByTestId("projects-message")).toContainText(`${SECOND} was added as annotator`);

  // The API holds it.
  const projects = await apiGet<{ results: { id: number; name: string }[] }>(page, "projects/?page_size=100");
  const project = projects.results.find((p) => p.name === name)!;
  const members = await apiGet<{ results: { username: string; role: string }[] }>(page, `projects/${project.id}/members/`);
  expect(members.results.find((m) => m.username === SECOND)?.role).toBe("annotator");

  await member.locator("select").selectOption("reviewer");
  await expect(page.getByTestId("projects-message")).toContainText(`${SECOND} is now reviewer`);
  // A user who does not exist: the API's message, in words.
  await add.getByLabel("Add a member").fill("nobody-here");
  await page.getByTestId("member-add").getByRole("button", { name: "Add" }).click();
  await expect(page.getByTestId("projects-message")).toContainText("Nobody is registered as “nobody-here”");
  await page.locator(`[data-testid=member][data-username="${SECOND}"]`).getByRole("button", { name: "Remove" }).click();
  await expect(page.locator(`[data-testid=member][data-username="${SECOND}"]`)).toHaveCount(0);
});

test("a member who is not the owner reads the project but gets no editing controls", async ({ page }) => {
  await signIn(page, SECOND);
  await page.goto("/projects/");
  const detail = page.getByTestId("project-detail");
  await expect(detail.locator("input[name=name]")).toBeDisabled();
  await expect(page.getByTestId("member-add")).toHaveCount(0);
  await expect(detail).toContainText("only owners change the project");
});

test("the exam page at 1600 px: a way back, a ? button, the whole title and the toolbar on one row", async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1600, height: 900 });
  await signIn(page);
  const exam = await openMammo(page);
  const back = page.getByTestId("back-to-worklist");
  await expect(back).toBeVisible();
  await expect(back).toHaveText(/Worklist/);

  const title = page.getByTestId("exam-title");
  await expect(title).toBeVisible();
  const cut = await title.evaluate((el) => el.scrollWidth > el.clientWidth + 1);
  expect(cut, "the exam title is cut").toBe(false);

  const tops = await page.locator(".exam-header .toolbar > *").evaluateAll((els) =>
    els.filter((el) => (el as HTMLElement).offsetParent !== null).map((el) => Math.round(el.getBoundingClientRect().top)),
  );
  expect(tops.length).toBeGreaterThan(5);
  expect(Math.max(...tops) - Math.min(...tops), "toolbar rows").toBeLessThan(12);

  await expect(page.locator(".exam-body [data-testid=viewport][data-full-res=true]")).toHaveCount(4, { timeout: 60_000 });
  await keepScreenshot(page, testInfo, "exam-page-1600");

  await page.getByRole("button", { name: "?" }).click();
  await expect(page.getByTestId("shortcut-help")).toBeVisible();
  await page.keyboard.press("Escape");
  await back.click();
  await expect(page).toHaveURL(/\/(\?project=\d+)?$/);
  expect(exam).toBeGreaterThan(0);
});

test("a mass is asked for its shape and margin, not for calcification morphology", async ({ page }) => {
  await signIn(page);
  await openMammo(page);
  const findings = page.getByTestId("findings");
  await findings.getByRole("button", { name: "+ New" }).click();
  await findings.locator("select[name=finding_type]").selectOption("mass");
  await expect(findings.locator("select[name='attributes.mass_shape']")).toBeVisible();
  await expect(findings.locator("select[name='attributes.calcification_morphology']")).toHaveCount(0);
  await expect(findings.getByText("Margin", { exact: true })).toBeVisible();

  await findings.locator("select[name=finding_type]").selectOption("calcification");
  await expect(findings.locator("select[name='attributes.calcification_morphology']")).toBeVisible();
  await expect(findings.locator("select[name='attributes.mass_shape']")).toHaveCount(0);
  await findings.getByRole("button", { name: "Delete finding" }).click();
});
