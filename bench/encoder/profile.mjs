// Where webfm's time goes on the wasm CPU path: Chrome's sampling profiler
// (CDP Profiler) around a few MiniLM embeds, self time summed per function.
//
//   node bench/encoder/profile.mjs [--batch|--short] [--runs N] [--top N] [--pkg DIR]
//
// Needs scripts/build.sh and bench/encoder/setup.sh (the model folder).
// scripts/build.sh's .wasm has no name section (wasm-opt drops it), so its
// functions show as wasm-function[N]. For Rust names, profile a build with
// them, served in place of pkg/:
//
//   mkdir -p /tmp/pkg-names && cp pkg/*.js pkg/*.json /tmp/pkg-names/
//   wasm-bindgen --target web --keep-debug --out-dir /tmp/pkg-names --out-name webfm \
//     target/wasm32-unknown-unknown/release/webfm.wasm
//   node bench/encoder/profile.mjs --pkg /tmp/pkg-names
//
// (no wasm-opt there: a little slower than the release build; the shares
// are what to read). "(program)" and "(garbage collector)" are V8's own.

import { rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { launch } from "../../tests/browser/chromium.mjs";
import { serveRoot } from "../driver.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const which = args.includes("--short") ? "short" : "batch";
const runs = Number(opt("--runs", which === "short" ? 20 : 2));
const top = Number(opt("--top", 30));

const root = serveRoot("profile", { "onnx-minilm": join(import.meta.dirname, "../../.cache/onnx-minilm") });
if (args.includes("--pkg")) {
  rmSync(join(root, "pkg"));
  symlinkSync(resolve(opt("--pkg")), join(root, "pkg"));
}
const server = await startServer({ port: 0, root });
const browser = await launch({ webgpu: false });
try {
  const page = await browser.firstPage();
  await page.goto(new URL("bench/encoder/encoder.html", server.url).href);
  await page.waitForFunction(() => typeof globalThis.benchEncoder === "function", null, { timeout: 60_000 });
  await page.evaluate(async (which) => {
    const { TEXTS_SHORT, TEXTS_BATCH } = await import("/bench/encoder/encoder.mjs");
    const engine = (await import("/bench/encoder/engine-webfm.mjs")).default;
    await engine.load("wasm", "fp32");
    globalThis.profTexts = which === "short" ? TEXTS_SHORT : TEXTS_BATCH;
    globalThis.profEngine = engine;
    await engine.embed(globalThis.profTexts);
  }, which);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const ms = await page.evaluate(async (runs) => {
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await globalThis.profEngine.embed(globalThis.profTexts);
    return (performance.now() - t0) / runs;
  }, runs);
  const { profile } = await cdp.send("Profiler.stop");
  const self = new Map();
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)));
  let total = 0;
  for (const n of profile.nodes) {
    const t = dt.get(n.id) ?? 0;
    const name = n.callFrame.functionName || `(anonymous ${n.callFrame.url.split("/").pop()})`;
    self.set(name, (self.get(name) ?? 0) + t);
    total += t;
  }
  console.log(`${which}: ${ms.toFixed(1)} ms per embed over ${runs} runs; self time by function (${(total / 1000).toFixed(0)} ms sampled):`);
  for (const [name, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / 1000 / runs).toFixed(1).padStart(8)} ms  ${name.slice(0, 150)}`);
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(root, { recursive: true, force: true });
}
