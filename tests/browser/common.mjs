// What the model test files share: paths, the golden files, and one served
// repository with headless Chromium (WebGPU on) and the test page, opened
// before a describe()'s tests and closed after them.

import { after, before } from "node:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../scripts/serve.mjs";
import { launch, openTestPage } from "./chromium.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MINUTE = 60_000;
export const log = (...a) => console.log(...a);
export const golden = (name) => JSON.parse(readFileSync(join(ROOT, "tests", "golden", name), "utf8"));
export const maxAbs = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/** Call inside describe(): returns `{server, browser, page}`, filled in before the tests run. */
export function useTestPage() {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer({ port: 0 });
    ctx.browser = await launch({ webgpu: true });
    ctx.page = await openTestPage(ctx.browser, ctx.server);
  }, { timeout: 3 * MINUTE });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.close();
  });
  return ctx;
}
