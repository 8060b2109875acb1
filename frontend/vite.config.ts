// Vite builds the workspace into dist/, which Django serves as static files (STATIC_URL
// "/static/"); senolab/workspace/vite.py reads dist/.vite/manifest.json to find the entry.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/static/",
  build: {
    manifest: true,
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
    rollupOptions: { input: "src/main.ts" },
  },
  // Cornerstone's DICOM loader decodes in web workers with WebAssembly codecs: keep them as ES
  // modules and out of the dependency pre-bundling, which would break their wasm URLs.
  worker: { format: "es" },
  optimizeDeps: {
    exclude: ["@cornerstonejs/dicom-image-loader"],
    include: ["dicom-parser"],
  },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.ts"],
  },
});
