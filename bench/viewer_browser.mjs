// The browser half of bench/viewer.py: one round of timings in headless Chromium.
//
//   node bench/viewer_browser.mjs CONFIG.json    (prints one JSON object on stdout)
//
// CONFIG: {url, cookie: {name, value}, exams: [{id, label, views}], tiles: [path, ...],
//          cpu: bool, chromium: path}
// After one unmeasured opening (browser and server warm-up), for each exam, in a fresh browser
// context (empty HTTP cache) every time:
//   viewer:   open /exams/ID/ and time, from navigation start, the first viewport drawn
//             (data-rendered) and the last one drawn at full resolution (data-full-res);
//   baseline: fetch() every same-origin resource the viewer loaded (page, scripts, API JSON,
//             pixels), all at once, without decoding or drawing; and the subset it had
//             received when it drew its first image (less any full-resolution level).
// Slide tiles: fetch() every tile path at once from a fresh context, twice (the first pass
// makes the server read and encode them, the second finds them in its tile cache).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(fileURLToPath(new URL("../frontend/package.json", import.meta.url)));
const { chromium } = require("playwright-core");

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT_MS = 180_000;

// Runs in the page before its scripts: stamps when each viewport is drawn and at full size.
function watchViewports() {
  const marks = { rendered: {}, full: {} };
  window.__viewerBench = marks;
  new MutationObserver((records) => {
    const now = performance.now();
    for (const r of records) {
      const el = r.target;
      if (el.dataset?.testid !== "viewport") continue;
      const slot = el.dataset.slot;
      if (el.dataset.rendered === "true" && !(slot in marks.rendered)) marks.rendered[slot] = now;
      if (el.dataset.fullRes === "true" && !(slot in marks.full)) marks.full[slot] = now;
    }
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: ["data-rendered", "data-full-res"],
  });
}

// Runs in the page: fetch all paths at once, read every body, return the elapsed ms and bytes.
async function fetchAll(paths) {
  const started = performance.now();
  const sizes = await Promise.all(paths.map(async (path) => {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    const body = await response.arrayBuffer();
    return { status: response.status, bytes: body.byteLength };
  }));
  const bad = sizes.filter((s) => s.status !== 200).length;
  return { ms: performance.now() - started, bytes: sizes.reduce((a, s) => a + s.bytes, 0), bad };
}

async function freshPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const { hostname } = new URL(config.url);
  await context.addCookies([{ ...config.cookie, domain: hostname, path: "/" }]);
  return { context, page: await context.newPage() };
}

async function openExam(browser, exam) {
  const { context, page } = await freshPage(browser);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(watchViewports);
  const query = config.cpu ? "?cpu=1" : "";
  await page.goto(`${config.url}/exams/${exam.id}/${query}`);
  try {
    await page.waitForFunction(
      (n) => Object.keys(window.__viewerBench.full).length >= n, exam.views,
      { timeout: TIMEOUT_MS, polling: 50 },
    );
  } catch (e) {
    await context.close();
    throw new Error(`exam ${exam.id}: ${exam.views} views at full resolution not seen (${e}); page errors: ${errors}`);
  }
  const result = await page.evaluate(() => {
    const marks = window.__viewerBench;
    const origin = location.origin;
    const resources = performance.getEntriesByType("resource")
      .filter((r) => r.name.startsWith(origin))
      .map((r) => ({
        path: r.name.slice(origin.length), start: r.startTime, end: r.responseEnd,
        bytes: r.decodedBodySize,
      }));
    const webgl = !!document.createElement("canvas").getContext("webgl2");
    return {
      firstMs: Math.min(...Object.values(marks.rendered)),
      fullMs: Math.max(...Object.values(marks.full)),
      perView: marks.full,
      resources,
      page: location.pathname + location.search,
      webgl,
    };
  });
  await context.close();
  return result;
}

async function baseline(browser, paths) {
  // Same origin as the viewer, so the session cookie and connection limits are the same.
  // The platform's pages carry a CSP (API responses forbid everything): an empty page served by
  // Playwright at the same origin instead, unrouted before the timing (no interception then).
  const { context, page } = await freshPage(browser);
  const blank = `${config.url}/__viewer_bench__`;
  await page.route(blank, (route) => route.fulfill({ contentType: "text/html", body: "<!doctype html><title>bench</title>" }));
  await page.goto(blank);
  await page.unroute(blank);
  const result = await page.evaluate(fetchAll, paths);
  await context.close();
  return result;
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
const out = { chromium: browser.version(), exams: [], tiles: [] };
try {
  // Unmeasured: starts Chromium's GPU process (SwiftShader) and warms the server, so that the
  // first exam measured pays no more start-up than the others.
  if (config.exams.length) await openExam(browser, config.exams[0]);
  for (const exam of config.exams) {
    const viewer = await openExam(browser, exam);
    if (process.env.VBENCH_DEBUG) console.error(JSON.stringify(viewer, null, 1));
    const all = [viewer.page, ...viewer.resources.map((r) => r.path)];
    // What the first picture needed: what had arrived by then, less any full-resolution level.
    const beforeFirst = [viewer.page, ...viewer.resources
      .filter((r) => r.end <= viewer.firstMs && !r.path.includes("pixels?level=0"))
      .map((r) => r.path)];
    const fetchFull = await baseline(browser, all);
    const fetchFirst = await baseline(browser, beforeFirst);
    const { resources, ...rest } = viewer;
    const full = resources.filter((r) => r.path.includes("pixels?level=0"));
    out.exams.push({
      ...exam, ...rest, requests: resources.length,
      pixelRequests: resources.filter((r) => r.path.includes("/pixels")).length,
      // When the full-resolution levels were asked for, and when the last one had arrived:
      // after that the time goes to decoding and drawing.
      pixelsAskedMs: Math.min(...full.map((r) => r.start)),
      pixelsInMs: Math.max(...full.map((r) => r.end)),
      fetchFull, fetchFirst,
    });
  }
  if (config.tiles.length) {
    for (const pass of ["cold", "warm"]) {
      out.tiles.push({ pass, count: config.tiles.length, ...(await baseline(browser, config.tiles)) });
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
