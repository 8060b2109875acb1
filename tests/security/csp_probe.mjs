// Opens app pages in Debian's Chromium (playwright-core from frontend/node_modules) as a
// signed-in user and reports every Content-Security-Policy violation: the DOM event in pages,
// console messages of pages and workers, and uncaught errors that name the policy.
// Input (stdin, JSON): {frontend, chromium, base, cookies: [{name, value}], pages: [path], waitMs}
// Output (stdout, JSON): [{page, status, violations: [text], errors: [text], workers, rendered}]
import { createRequire } from "node:module";
import path from "node:path";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const require = createRequire(path.join(input.frontend, "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: input.chromium,
  args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
const context = await browser.newContext();
await context.addCookies(input.cookies.map((c) => ({ ...c, url: input.base })));
await context.addInitScript(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} ${e.sample}`);
  });
});
const mentionsPolicy = (text) => /Content[ -]Security[ -]Policy|violates the following/i.test(text);
const results = [];
for (const page_path of input.pages) {
  const page = await context.newPage();
  const found = { page: page_path, status: 0, violations: [], errors: [], workers: 0 };
  page.on("console", (msg) => {
    if (mentionsPolicy(msg.text())) found.violations.push(`console: ${msg.text()}`);
    else if (msg.type() === "error") found.errors.push(msg.text());
  });
  page.on("pageerror", (err) => {
    const text = String(err && err.message ? err.message : err);
    (mentionsPolicy(text) ? found.violations : found.errors).push(`pageerror: ${text}`);
  });
  page.on("worker", (worker) => {
    found.workers += 1;
    worker.on("console", (msg) => {
      if (mentionsPolicy(msg.text())) found.violations.push(`worker: ${msg.text()}`);
    });
  });
  const response = await page.goto(input.base + page_path, { waitUntil: "load" });
  found.status = response ? response.status() : 0;
  await page.waitForTimeout(input.waitMs);
  const fromDom = await page.evaluate(() => window.__cspViolations || []);
  found.violations.push(...fromDom.map((v) => `event: ${v}`));
  // How far the page got under the policy: viewports drawn, slide viewers ready.
  found.rendered = await page.evaluate(
    () => document.querySelectorAll('[data-rendered="true"], [data-ready="true"]').length,
  );
  results.push(found);
  await page.close();
}
await browser.close();
process.stdout.write(JSON.stringify(results));
