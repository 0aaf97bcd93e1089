#!/usr/bin/env node
// Encoder benchmark: all-MiniLM-L6-v2 in headless Chromium, one fresh browser
// per row, rows {wasm, webgpu} x {fp32, q8}: load time, one short sentence,
// a batch of 8 texts of 128 tokens. Writes bench/out/encoder-<engine>.json and
// prints a markdown table with webfm / transformers.js ratios when both exist.
//
//   bench/encoder/setup.sh                      # once: npm install + ONNX export
//   node bench/encoder/run.mjs [--engine transformers.js[,webfm]] [--rows wasm:fp32,webgpu:q8]
//                              [--quick] [--table-only] [--serve [--port 8090]]
//
// --quick: few runs, a smoke test written to bench/out/encoder-<engine>.quick.json; --table-only: print the
// table from bench/out/encoder-*.json; --serve: only serve the page for a browser.

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../scripts/serve.mjs";
import { launch } from "../../tests/browser/chromium.mjs";
import { fmt, machine, serveRoot, slug, writeRows } from "../driver.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(ROOT, "bench/out");
const MODEL_DIR = join(ROOT, ".cache/onnx-minilm");
const ALL_ROWS = ["wasm:fp32", "wasm:q8", "webgpu:fp32", "webgpu:q8"];
const ENGINE_FILES = { "transformers.js": "engine-transformersjs.mjs", webfm: "engine-webfm.mjs" };

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const engines = opt("--engine", Object.keys(ENGINE_FILES).filter((e) => existsSync(join(HERE, ENGINE_FILES[e]))).join(",")).split(",");
const rows = opt("--rows", ALL_ROWS.join(",")).split(",");
const quick = args.includes("--quick");
// --quick results go to encoder-<engine>.quick.json, so they never replace recorded ones.
const outFile = (engine) => join(OUT, `encoder-${slug(engine)}${quick ? ".quick" : ""}.json`);
const QUICK_PLAN = { short: { runs: 3, minRuns: 1, budgetMs: 5_000 }, batch: { runs: 1, minRuns: 1, budgetMs: 0 } };
const ROW_TIMEOUT_MS = { wasm: 10 * 60_000, webgpu: 20 * 60_000 };

// ---------------------------------------------------------------- table
const METRICS = [
  ["load", "load (ms)", (r) => r.load_ms],
  ["short", "short sentence (ms)", (r) => r.short?.median_ms],
  ["batch", "batch 8x128 tok (ms)", (r) => r.batch?.median_ms],
];

function table() {
  const load = (name) => {
    const p = outFile(name);
    return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : null;
  };
  const tjs = load("transformers.js");
  const wfm = load("webfm");
  const find = (res, key) => res?.rows.find((r) => `${r.device}:${r.dtype}` === key && !r.error);
  const lines = [
    "| path | dtype | metric | transformers.js | webfm | webfm / transformers.js |",
    "| --- | --- | --- | ---: | ---: | ---: |",
  ];
  for (const key of ALL_ROWS) {
    const [device, dtype] = key.split(":");
    const a = find(tjs, key);
    const b = find(wfm, key);
    for (const [, label, get] of METRICS) {
      const x = a && get(a);
      const y = b && get(b);
      const runs = (r) => (r && label.startsWith("short") ? r.short.runs : r && label.startsWith("batch") ? r.batch.runs : null);
      const n = runs(a) ? ` (${runs(a)})` : "";
      lines.push(`| ${device === "wasm" ? "wasm CPU, 1 thread" : "WebGPU"} | ${dtype === "q8" ? "8-bit" : "f32"} | ${label} | ${fmt(x)}${n} | ${fmt(y)} | ${x && y ? (y / x).toFixed(2) : "—"} |`);
    }
  }
  const checks = ["", "Embedding of \"This is a test sentence.\" (first 5; reference 0.0842964, 0.0579537, 0.0044934, 0.1058210, 0.0070834):", ""];
  for (const res of [tjs, wfm].filter(Boolean)) {
    const ref = find(tjs, "wasm:fp32")?.embedding_short;
    for (const r of res.rows) {
      if (r.error) {
        checks.push(`- ${res.engine} ${r.device} ${r.dtype}: ERROR ${r.error.split("\n")[0]}`);
        continue;
      }
      const cos = ref ? r.embedding_short.reduce((s, x, i) => s + x * ref[i], 0) : null;
      checks.push(`- ${res.engine} ${r.device} ${r.dtype}: ${r.first5.map((x) => x.toFixed(7)).join(", ")} (max diff ${r.max_abs_diff_reference5.toExponential(1)}${cos != null ? `, cos vs transformers.js wasm fp32 ${cos.toFixed(5)}` : ""}); tokens short ${r.tokens_short ?? "?"}, batch ${r.tokens_batch ? [...new Set(r.tokens_batch)].join("/") : "?"}`);
    }
  }
  const m = tjs?.machine ?? wfm?.machine;
  const ad = [tjs, wfm].flatMap((x) => x?.rows ?? []).find((r) => r.adapter)?.adapter;
  const loads = [tjs, wfm].flatMap((x) => x?.rows ?? []).map((r) => r.loadavg_at_start).filter((x) => x != null);
  const where = m ? `\nMachine: ${m.cpus} cores (${m.cpu}), ${m.mem_gib} GiB, ${m.chromium}, WebGPU adapter ${ad ? `${ad.vendor} ${ad.architecture}${ad.fallback ? " (fallback)" : ""}` : "?"}, ${m.date.slice(0, 10)}; load average at the start of a row ${loads.length ? `${Math.min(...loads)}–${Math.max(...loads)}` : "?"}; medians (runs) after one warm-up.` : "";
  return lines.join("\n") + "\n" + checks.join("\n") + "\n" + where;
}

// ---------------------------------------------------------------- run
if (args.includes("--table-only")) {
  console.log(table());
  process.exit(0);
}
if (!existsSync(join(MODEL_DIR, "export.json")) || !existsSync(join(HERE, "node_modules/@huggingface/transformers"))) {
  console.error("encoder: run bench/encoder/setup.sh first (npm install + ONNX export into .cache/onnx-minilm)");
  process.exit(2);
}

const root = serveRoot("encoder", { "onnx-minilm": MODEL_DIR });
if (args.includes("--serve")) {
  const s = await startServer({ port: Number(opt("--port", 8090)), root });
  console.log(`serving ${s.url}bench/encoder/encoder.html?engine=transformers.js&device=wasm&dtype=fp32`);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (rmSync(root, { recursive: true, force: true }), process.exit(0)));
} else {
  const server = await startServer({ port: 0, root });
  const url = new URL("bench/encoder/encoder.html", server.url).href;
  let failed = false;
  try {
    for (const engine of engines) {
      if (!ENGINE_FILES[engine] || !existsSync(join(HERE, ENGINE_FILES[engine]))) {
        console.error(`encoder: no engine ${engine} (bench/encoder/${ENGINE_FILES[engine] ?? "?"} missing), skipped`);
        continue;
      }
      const result = { engine, machine: machine(), quick, rows: [] };
      if (result.machine.loadavg_at_start[0] > 0.7) console.error(`encoder: load average ${result.machine.loadavg_at_start[0]}: numbers will be noisy`);
      for (const key of rows) {
        const [device, dtype] = key.split(":");
        console.error(`encoder: ${engine} ${device} ${dtype} ...`);
        const loadavg1 = Math.round(loadavg()[0] * 100) / 100;
        const browser = await launch({ webgpu: true });
        try {
          const page = await browser.firstPage();
          page.on("console", (m) => m.text().startsWith("bench ") && process.stderr.write(`  ${m.text().slice(6)}\n`));
          await page.goto(url);
          await page.waitForFunction(() => typeof globalThis.benchEncoder === "function", null, { timeout: 60_000 });
          await page.evaluate(
            (o) => {
              globalThis.benchEncoder(o).then((r) => (globalThis.benchResult = r), (e) => (globalThis.benchError = String(e?.stack ?? e)));
            },
            { engine, device, dtype, plan: quick ? QUICK_PLAN : undefined },
          );
          await page.waitForFunction(() => globalThis.benchResult || globalThis.benchError, null, { timeout: ROW_TIMEOUT_MS[device], polling: 1000 });
          const { r, e } = await page.evaluate(() => ({ r: globalThis.benchResult, e: globalThis.benchError }));
          if (e) throw new Error(e);
          r.date = new Date().toISOString();
          r.loadavg_at_start = loadavg1;
          result.rows.push(r);
        } catch (e) {
          failed = true;
          console.error(`encoder: ${engine} ${key} failed: ${e?.stack ?? e}`);
          result.rows.push({ engine, device, dtype, error: String(e?.message ?? e) });
        } finally {
          await browser.close();
        }
      }
      const file = outFile(engine);
      writeRows(file, result, ALL_ROWS);
      console.error(`encoder: wrote ${file}`);
    }
    console.log(table());
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}
