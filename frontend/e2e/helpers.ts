/** What the specs share: signing in, the REST API seen with the page's session, waiting for the
 * autosave, pointer gestures on an element, and the screenshots kept in docs/screenshots/. */

import { writeFileSync } from "node:fs";
import { expect, type Locator, type Page, type TestInfo } from "@playwright/test";

// The users frontend/e2e/server.py creates (same environment variables, same defaults).
export const READER = process.env.SENOLAB_E2E_USER ?? "e2e-reader";
export const SECOND = process.env.SENOLAB_E2E_OTHER ?? "e2e-second";
export const PASSWORD = process.env.SENOLAB_E2E_PASSWORD ?? "e2e-password-not-secret";

export interface MarkJson {
  id: number;
  image: number | null;
  slide: number | null;
  frame: number;
  kind: string;
  geometry: Record<string, unknown>;
}

export interface FindingJson {
  id: number;
  exam: number;
  source: string;
  birads: string;
  finding_type: string;
  laterality: string;
  version: number;
  created_by: number | null;
  updated_by: number | null;
  marks: MarkJson[];
}

export interface ImageJson {
  id: number;
  laterality: string;
  view: string;
  modality: string;
  columns: number;
  rows: number;
}

/** Sign in through the log-in form; the worklist is the page behind it. */
export async function signIn(page: Page, username = READER): Promise<void> {
  await page.goto("/login/");
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/(\?.*)?$/);
}

/** GET a JSON resource of the API with the page's session cookie. */
export async function apiGet<T>(page: Page, path: string): Promise<T> {
  const response = await page.request.get(`/api/${path}`);
  expect(response.status(), `GET /api/${path}`).toBe(200);
  return (await response.json()) as T;
}

/** POST/PATCH/DELETE JSON to the API with the page's session cookie and CSRF token. */
export async function apiSend<T>(page: Page, method: string, path: string, data?: unknown, timeout = 180_000): Promise<{ status: number; body: T }> {
  const csrf = (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
  const response = await page.request.fetch(`/api/${path}`, { method, data, timeout, headers: { "X-CSRFToken": csrf, Referer: page.url() } });
  return { status: response.status(), body: (await response.json().catch(() => null)) as T };
}

/** The reader-made findings of an exam as the server holds them (imported ones left out). */
export async function humanFindings(page: Page, exam: number): Promise<FindingJson[]> {
  const body = await apiGet<{ results: FindingJson[] }>(page, `findings/?exam=${exam}&source=human&page_size=100`);
  return body.results;
}

/** The images of an exam, by id. */
export async function examImages(page: Page, exam: number): Promise<Map<number, ImageJson>> {
  const detail = await apiGet<{ series: { images: ImageJson[] }[] }>(page, `exams/${exam}/`);
  return new Map(detail.series.flatMap((s) => s.images).map((im) => [im.id, im]));
}

/** Wait until the save badge says everything is on the server. */
export async function expectSaved(page: Page): Promise<void> {
  await expect(page.getByTestId("save-status")).toHaveAttribute("data-state", "saved", { timeout: 20_000 });
}

/** A point of an element as a fraction of its box (0..1), in page coordinates. */
export async function pointIn(target: Locator, fx: number, fy: number): Promise<{ x: number; y: number }> {
  const box = await target.boundingBox();
  if (!box) throw new Error("The element has no box on the screen.");
  return { x: box.x + box.width * fx, y: box.y + box.height * fy };
}

/** Press, drag in small steps, release. */
export async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }, steps = 8): Promise<void> {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps });
  await page.mouse.up();
}

/** Click a point, moving there first (tools that track the pointer see it arrive). */
export async function clickAt(page: Page, p: { x: number; y: number }): Promise<void> {
  await page.mouse.move(p.x, p.y, { steps: 3 });
  await page.mouse.down();
  await page.mouse.up();
}

/** Keep a screenshot of the workspace for the docs (docs/screenshots/NAME.png, the 1280x800
 * viewport). A picture over the size budget (speckled ultrasound compresses badly) is posterized
 * in the page, fewer grey levels each round, until it fits. */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string, maxBytes = 380_000): Promise<void> {
  await page.mouse.move(0, 0); // no hover highlight or cursor readout in the picture
  let png = (await page.screenshot({ animations: "disabled" })) as unknown as NodeBuffer;
  for (let dropBits = 2; png.byteLength > maxBytes && dropBits <= 5; dropBits++) {
    const base64 = await page.evaluate(
      async ([source, bits]) => {
        const image = new Image();
        image.src = `data:image/png;base64,${source}`;
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        const ctx = canvas.getContext("2d")!;
        ctx.drawImage(image, 0, 0);
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const mask = 0xff & ~((1 << Number(bits)) - 1);
        for (let i = 0; i < pixels.data.length; i++) if (i % 4 !== 3) pixels.data[i]! &= mask;
        ctx.putImageData(pixels, 0, 0);
        return canvas.toDataURL("image/png").split(",")[1]!;
      },
      [png.toString("base64"), dropBits] as const,
    );
    png = Buffer.from(base64, "base64");
  }
  expect(png.byteLength, `${name}.png fits the docs' size budget`).toBeLessThanOrEqual(maxBytes);
  writeFileSync(`${testInfo.project.testDir}/../../docs/screenshots/${name}.png`, png);
}
