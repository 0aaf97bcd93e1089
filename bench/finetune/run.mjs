#!/usr/bin/env node
// Fine-tuning benchmark in headless Chromium through the package: training
// examples per second and peak GPU memory for
//   minilm:  all-MiniLM-L6-v2, head + LoRA (rank 8, query/value), batch 8 × 64 tokens;
//   smollm2: SmolLM2-135M-Instruct (4-bit base), LoRA (rank 8, q/v), batch 4 × 128 tokens;
// on WebGPU (SwiftShader here) and the wasm CPU path. One warm-up step, then
// the steady rate over the next steps (from onStep's timestamps). Writes
// bench/out/finetune-browser.json and prints a table.
//
//   node bench/finetune/run.mjs [--rows minilm:cpu,minilm:webgpu,smollm2:cpu,smollm2:webgpu] [--steps N]
//
// Native rows: target/release/webfm bench-finetune <folder> --device cpu|gpu
// (see bench/finetune/README.md); PyTorch: bench/finetune/pytorch_bench.py.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { launch, openTestPage } from "../../tests/browser/chromium.mjs";
import { fmt, machine, ROOT } from "../driver.mjs";

const CONFIGS = {
  minilm: { url: "/models/minilm/", kind: "Model", batch: 8, tokens: 64, method: "head+lora" },
  smollm2: { url: "/models/smollm2/", kind: "TextModel", batch: 4, tokens: 128, method: "lora" },
};
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const rows = opt("--rows", "minilm:cpu,minilm:webgpu,smollm2:cpu,smollm2:webgpu").split(",");
const steps = Number(opt("--steps", "4"));

const server = await startServer({ port: 0 });
const results = [];
try {
  for (const row of rows) {
    const [name, device] = row.split(":");
    const c = CONFIGS[name];
    if (!c) throw new Error(`unknown row ${row}`);
    const browser = await launch({ webgpu: true });
    try {
      const page = await openTestPage(browser, server);
      const r = await page.evaluate(async ({ c, device, steps }) => {
        const webfm = await import("/pkg/index.js");
        const m = await webfm[c.kind].load(c.url, { device, cache: false });
        // Texts long enough to be cut at exactly `tokens` (maxTokens).
        const text = (i) => Array.from({ length: c.tokens * 2 }, (_, j) => `word${(i * 7 + j * 13) % 97}`).join(" ");
        const n = c.batch * (steps + 1);
        const examples = Array.from({ length: n }, (_, i) => (c.kind === "Model" ? { text: text(i), label: i % 2 ? "a" : "b" } : { text: text(i) }));
        const times = [];
        const adapter = await m.finetune(examples, { method: c.method, rank: 8, alpha: 16, epochs: 1, batchSize: c.batch, maxTokens: c.tokens, warmup: 0, onStep: (s) => times.push({ t: performance.now(), loss: s.loss }) });
        m.dispose();
        const secs = (times.at(-1).t - times[0].t) / 1000;
        return { examplesPerSecond: (c.batch * (times.length - 1)) / secs, seconds: secs, steps: times.length - 1, peakGpuBytes: adapter.report.peakGpuBytes, lossFirst: times[0].loss, lossLast: times.at(-1).loss };
      }, { c, device, steps });
      results.push({ row, ...c, device, ...r });
      console.log(`${row}: ${fmt(r.examplesPerSecond)} examples/s (${r.steps} steps in ${r.seconds.toFixed(1)} s), peak GPU ${(r.peakGpuBytes / 2 ** 20).toFixed(1)} MiB, loss ${r.lossFirst.toFixed(3)} -> ${r.lossLast.toFixed(3)}`);
    } catch (e) {
      results.push({ row, error: String(e?.message ?? e) });
      console.log(`${row}: error ${e?.message ?? e}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}
mkdirSync(join(ROOT, "bench/out"), { recursive: true });
writeFileSync(join(ROOT, "bench/out/finetune-browser.json"), JSON.stringify({ machine: machine(), steps, rows: results }, null, 2) + "\n");
