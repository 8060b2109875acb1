/** Browser tests of the workspace (frontend/e2e/*.spec.ts) in Debian's Chromium against a
 * throw-away Senolab started by e2e/server.py. Run: `npm run build && npm run e2e`. */

import { defineConfig } from "@playwright/test";

const port = Number(process.env.SENOLAB_E2E_PORT ?? 8765);
const ci = !!process.env.CI;

export default defineConfig({
  testDir: "./e2e",
  outputDir: "./test-results",
  // One throw-away server and two slow cores: the specs share it one after the other.
  workers: 1,
  fullyParallel: false,
  retries: ci ? 1 : 0,
  timeout: 90_000,
  globalTimeout: 25 * 60_000,
  expect: { timeout: 20_000 },
  reporter: ci ? [["list"]] : [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1280, height: 800 },
    actionTimeout: 15_000,
    navigationTimeout: 30_000,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      // No GPU here: WebGL (Cornerstone3D's renderer) through SwiftShader.
      args: ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"],
    },
  },
  webServer: {
    command: `../.venv/bin/python e2e/server.py --port ${port}`,
    url: `http://127.0.0.1:${port}/login/`,
    reuseExistingServer: !ci,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 5_000 },
  },
});
