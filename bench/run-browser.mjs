#!/usr/bin/env node
// Run the browser GEMM benchmark (bench/gemm.html) in headless Chromium with
// WebGPU (SwiftShader where there is no GPU), print the results as a JSON
// array and write them to bench/out/browser-gemm.json.
//
//   node bench/run-browser.mjs [--no-webgpu] [--query 'sizes=256,512&kernels=tiled']
//
// Needs a built pkg/ (scripts/build.sh).

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../scripts/serve.mjs";
import { launch } from "../tests/browser/chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const webgpu = !args.includes("--no-webgpu");
const qi = args.indexOf("--query");
const query = qi >= 0 ? args[qi + 1] ?? "" : "";

const server = await startServer({ port: 0 });
const browser = await launch({ webgpu });
let code = 0;
try {
  const page = await browser.firstPage();
  page.on("console", (m) => {
    if (m.text().startsWith("bench ")) process.stderr.write(`${m.text()}\n`);
  });
  const url = new URL(`bench/gemm.html${query ? `?${query}` : ""}`, server.url).href;
  process.stderr.write(`bench: ${url} (webgpu ${webgpu ? "on" : "off"})\n`);
  await page.goto(url);
  await page.waitForFunction(() => window.benchResults || window.benchError, null, { timeout: 15 * 60_000, polling: 500 });
  const { results, qresults, error, adapter } = await page.evaluate(() => ({
    results: window.benchResults, qresults: window.benchQResults, error: window.benchError, adapter: window.benchAdapter,
  }));
  if (error) throw new Error(`benchmark page failed: ${error}`);
  const out = join(HERE, "out", "browser-gemm.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(HERE, "out", "browser-qgemv.json"), JSON.stringify(qresults ?? [], null, 2) + "\n");
  process.stderr.write(`bench: adapter ${JSON.stringify({ name: adapter?.name, backend: adapter?.backend, fallback: adapter?.isFallbackAdapter })}\n`);
  process.stderr.write(`bench: wrote ${out}\n`);
  console.log(JSON.stringify(results, null, 2));
  if ([...results, ...(qresults ?? [])].some((r) => r.error)) code = 1;
} catch (e) {
  process.stderr.write(`bench: ${e?.stack ?? e}\n`);
  code = 1;
} finally {
  await browser.close();
  await server.close();
}
process.exit(code);
