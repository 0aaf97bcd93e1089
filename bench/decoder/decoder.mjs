// Decoder (text-generation) benchmark harness: the same prompts and the same
// timing code for every engine, so webfm and transformers.js are measured side
// by side in one page.
//
//   decoder.html?engine=transformers.js&device=wasm&dtype=fp32   (runs on open)
//   window.benchDecoder({ engine, device, dtype, ... })           (bench/decoder/run.mjs)
//
// An engine is a module whose default export is
//
//   {
//     name: "transformers.js",
//     async load(device, dtype) -> info
//         // device "wasm" | "webgpu"; dtype "fp32" | "q8" | "q8w" (transformers.js' names,
//         // an engine maps them to its own; "q8w" = 8-bit weights only, see README);
//         // everything from import to ready (module, wasm, weights, session or shader
//         // set-up) counts as load; info: { version, details: {...} } (free-form)
//     async tokenize(text) -> number[]
//         // the ids the model is fed for `text`: no special tokens added (SmolLM2 adds no BOS)
//     async generate(text, { maxNewTokens, onToken }) -> { ids: number[] }
//         // tokenize + prefill + decode, batch 1, greedy: every new id is the argmax of the
//         // last logits (ties -> lowest id), never sampled, never stopped early: the
//         // end-of-sequence id is an ordinary token (not masked either), so exactly
//         // maxNewTokens ids come back (the new ones only, not the prompt).
//         // onToken(id) must be called once per new id, in order, as soon as that id is
//         // known (before the next forward pass): the harness timestamps these calls.
//         // No state may carry over between calls (no prompt / prefix cache).
//     async dispose()   // optional
//   }
//
// Its files: MODEL_BASE (served from .cache/onnx-smollm2 by run.mjs) holds config.json,
// generation_config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx (fp32),
// onnx/model_quantized.onnx (q8), onnx/model_q8w.onnx (q8w). webfm's own folder is
// WEBFM_MODEL_BASE (.cache/models/smollm2, made by `webfm convert` from the same GGUF) and the
// GGUF itself is GGUF_URL.

export const MODEL_ROOT = "/models/";
export const MODEL_ID = "onnx-smollm2";
export const MODEL_BASE = `${MODEL_ROOT}${MODEL_ID}/`;
export const WEBFM_MODEL_BASE = `${MODEL_ROOT}smollm2/`;
export const GGUF_URL = `${MODEL_ROOT}smollm2-gguf/SmolLM2-135M-Instruct.Q4_1.gguf`;

/** Engines by name; run.mjs skips one whose module is missing. */
export const ENGINES = {
  "transformers.js": () => import("./engine-transformersjs.mjs"),
  webfm: () => import("./engine-webfm.mjs"),
};

/** { short: { tokens: 16, text }, long: { tokens: 256, text } }, shared with export_onnx.py. */
export const PROMPTS = Object.freeze(await (await fetch(new URL("./prompts.json", import.meta.url), { cache: "no-store" })).json());

/**
 * Timing plans. Each phase: `runs` after the warm-up, cut short once `budgetMs` has passed
 * (at least `minRuns`). `newTokens`: tokens per decode run. `warmLong`: the warm-up also
 * runs the long prompt once (else the first long-prompt run pays its first-use costs, e.g.
 * WebGPU pipelines for new shapes). `rowBudgetMs`: from the start of load; a phase or run
 * that would start later is skipped (recorded), so a slow row ends in about that time.
 */
export const PLANS = {
  wasm: {
    warmLong: true,
    ttftShort: { runs: 5, minRuns: 3, budgetMs: 20_000 },
    ttftLong: { runs: 3, minRuns: 1, budgetMs: 30_000 },
    decode: { runs: 2, minRuns: 1, budgetMs: 60_000, newTokens: 128 },
    rowBudgetMs: 8 * 60_000,
  },
  webgpu: {
    warmLong: false,
    ttftShort: { runs: 2, minRuns: 1, budgetMs: 30_000 },
    ttftLong: { runs: 1, minRuns: 1, budgetMs: 0 },
    decode: { runs: 1, minRuns: 1, budgetMs: 0, newTokens: 8 },
    rowBudgetMs: 9 * 60_000,
  },
};
/** --quick (smoke test): one run per phase, 4 new tokens; on WebGPU without the 256-token prompt (~7 min on SwiftShader). */
const QUICK = {
  warmLong: false,
  ttftShort: { runs: 1, minRuns: 1, budgetMs: 0 },
  ttftLong: { runs: 1, minRuns: 1, budgetMs: 0 },
  decode: { runs: 1, minRuns: 1, budgetMs: 0, newTokens: 4 },
  rowBudgetMs: 6 * 60_000,
};
export const QUICK_PLANS = {
  wasm: QUICK,
  webgpu: { ...QUICK, ttftLong: { runs: 0, minRuns: 0, budgetMs: 0 } },
};

const log = (...a) => console.log("bench", ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);

/**
 * One generate() call, timed: t0 just before the call, one timestamp per onToken.
 * Returns { ttft_ms, total_ms, ids, stamps (ms since t0) }.
 */
async function timedGenerate(engine, text, maxNewTokens) {
  const stamps = [];
  const seen = [];
  const t0 = performance.now();
  const out = await engine.generate(text, {
    maxNewTokens,
    onToken: (id) => {
      stamps.push(performance.now() - t0);
      seen.push(Number(id));
    },
  });
  const total = performance.now() - t0;
  const ids = Array.from(out?.ids ?? seen, Number);
  if (ids.length !== maxNewTokens) throw new Error(`generate returned ${ids.length} ids for maxNewTokens ${maxNewTokens}`);
  if (stamps.length !== maxNewTokens) throw new Error(`onToken was called ${stamps.length} times for maxNewTokens ${maxNewTokens}`);
  if (seen.some((id, i) => id !== ids[i])) throw new Error("onToken ids differ from the returned ids");
  return { ttft_ms: stamps[0], total_ms: total, ids, stamps };
}

/** Runs of one phase after the warm-up; stops at plan.runs, or past plan.budgetMs (>= minRuns), or at the row deadline. */
async function phase(label, plan, deadline, once) {
  const runs = [];
  const start = performance.now();
  for (let i = 0; i < plan.runs; i++) {
    if (performance.now() > deadline) {
      log(`${label}: row budget spent, ${runs.length} of ${plan.runs} runs`);
      break;
    }
    runs.push(await once(i));
    if (runs.length >= plan.minRuns && performance.now() - start > plan.budgetMs) break;
  }
  return runs;
}

async function adapterInfo() {
  if (!navigator.gpu) return null;
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return null;
    const i = a.info ?? {};
    return { vendor: i.vendor, architecture: i.architecture, description: i.description, fallback: a.isFallbackAdapter ?? i.isFallbackAdapter };
  } catch (e) {
    return { error: String(e) };
  }
}

const stats = (xs) =>
  xs.length ? { runs: xs.length, median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), all: xs.map((x) => round(x)) } : { runs: 0, skipped: true };

/**
 * Load `engine` on (device, dtype) and time it, in this order: load, warm-up, time to first
 * token for PROMPTS.short, decode speed over plan.decode.newTokens new tokens after
 * PROMPTS.short, time to first token for PROMPTS.long.
 * Returns a plain JSON-able object with the generated ids.
 */
export async function measure(engine, { device, dtype, plan = PLANS[device] ?? PLANS.wasm } = {}) {
  const row = { engine: engine.name, device, dtype, userAgent: navigator.userAgent, crossOriginIsolated, adapter: device === "webgpu" ? await adapterInfo() : null, plan };
  const t0 = performance.now();
  const deadline = t0 + plan.rowBudgetMs;
  row.info = (await engine.load(device, dtype)) ?? {};
  row.load_ms = round(performance.now() - t0);
  // Progress for run.mjs: it keeps the latest copy and records it if it has to kill the row.
  row.phases_done = [];
  const report = (phase) => {
    row.phases_done.push(phase);
    row.elapsed_ms = round(performance.now() - t0);
    console.log(`bench-partial ${JSON.stringify(row)}`);
  };
  report("load");
  log(`${engine.name} ${device} ${dtype}: load ${row.load_ms} ms`);

  // Prompt token counts, checked against prompts.json (a mismatch is recorded and warned about).
  row.prompt_tokens = {};
  for (const k of ["short", "long"]) {
    const ids = Array.from(await engine.tokenize(PROMPTS[k].text), Number);
    row.prompt_tokens[k] = ids.length;
    if (k === "short") row.prompt_ids_short = ids;
    if (ids.length !== PROMPTS[k].tokens) console.warn(`bench: the ${k} prompt is ${ids.length} tokens with ${engine.name}'s tokenizer (expected ${PROMPTS[k].tokens})`);
  }
  row.prompt_tokens_ok = row.prompt_tokens.short === PROMPTS.short.tokens && row.prompt_tokens.long === PROMPTS.long.tokens;

  // Warm-up: first calls pay one-time costs (kernel/pipeline creation, allocations).
  let t = performance.now();
  const w = await timedGenerate(engine, PROMPTS.short.text, 2);
  row.warmup = { first_ttft_short_ms: round(w.ttft_ms), first_total_ms: round(performance.now() - t) };
  if (plan.warmLong) {
    const wl = await timedGenerate(engine, PROMPTS.long.text, 1);
    row.warmup.first_ttft_long_ms = round(wl.ttft_ms);
  }
  log(`warm-up: first TTFT (short) ${row.warmup.first_ttft_short_ms} ms${plan.warmLong ? `, long ${row.warmup.first_ttft_long_ms} ms` : ""}`);
  report("warmup");

  const ttftShort = await phase("ttft short", plan.ttftShort, deadline, async () => (await timedGenerate(engine, PROMPTS.short.text, 1)).ttft_ms);
  row.ttft_short = stats(ttftShort);
  log(`TTFT ${PROMPTS.short.tokens} tok: ${row.ttft_short.runs ? `${row.ttft_short.runs} runs, median ${row.ttft_short.median} ms` : "skipped"}`);
  report("ttft_short");

  const n = plan.decode.newTokens;
  const decodes = await phase("decode", plan.decode, deadline, async (i) => {
    const r = await timedGenerate(engine, PROMPTS.short.text, n);
    const span = r.stamps[n - 1] - r.stamps[0];
    const tps = n > 1 ? ((n - 1) * 1000) / span : null;
    log(`decode run ${i + 1}: ${n} tokens, TTFT ${round(r.ttft_ms)} ms, ${round(tps)} tok/s after the first`);
    return { ...r, tps };
  });
  row.decode = {
    new_tokens: n,
    ...stats(decodes.map((d) => d.tps)),
    ttft_ms: decodes.map((d) => round(d.ttft_ms)),
    // per-token gaps of the first run (ms), token 1 -> 2, 2 -> 3, ...
    gaps_ms: decodes[0] ? decodes[0].stamps.slice(1).map((s, i) => round(s - decodes[0].stamps[i])) : [],
    deterministic: decodes.every((d) => d.ids.join() === decodes[0].ids.join()),
  };
  row.ids_short = decodes[0]?.ids ?? w.ids;
  report("decode");

  // Last: on SwiftShader's WebGPU the 256-token prefill alone can take longer than a row may.
  // Not started when even a lower bound of its time (half of the short prompt's TTFT scaled
  // by the token ratio; measured: 0.6 on SwiftShader, 0.8 on wasm) overruns the row budget.
  const estimate = row.ttft_short.runs ? 0.5 * row.ttft_short.median * (PROMPTS.long.tokens / PROMPTS.short.tokens) : 0;
  const left = deadline - performance.now();
  if (plan.ttftLong.runs > 0 && estimate > left) {
    row.ttft_long = { runs: 0, skipped: true, reason: `estimated >= ${round(estimate / 1000, 0)} s, ${round(Math.max(left, 0) / 1000, 0)} s of the row budget left` };
    log(`TTFT ${PROMPTS.long.tokens} tok: skipped (${row.ttft_long.reason})`);
  } else {
    const ttftLong = await phase("ttft long", plan.ttftLong, deadline, async () => (await timedGenerate(engine, PROMPTS.long.text, 1)).ttft_ms);
    row.ttft_long = stats(ttftLong);
    log(`TTFT ${PROMPTS.long.tokens} tok: ${row.ttft_long.runs ? `${row.ttft_long.runs} runs, median ${row.ttft_long.median} ms` : "skipped"}`);
  }
  report("ttft_long");
  row.budget_spent = performance.now() > deadline;
  row.total_ms = round(performance.now() - t0);
  await engine.dispose?.();
  return row;
}

/**
 * Entry point for run.mjs: `benchDecoder({ engine: "transformers.js", device, dtype })`; optional
 * `quick` (QUICK_PLANS), `plan` (replaces PLANS[device]), `newTokens`, `rowBudgetMs` (override it).
 */
export async function benchDecoder({ engine: name, device, dtype, plan, quick = false, newTokens = null, rowBudgetMs = null }) {
  const factory = ENGINES[name];
  if (!factory) throw new Error(`unknown engine ${name} (have ${Object.keys(ENGINES).join(", ")})`);
  const engine = (await factory()).default;
  plan = structuredClone(plan ?? (quick ? QUICK_PLANS[device] ?? QUICK_PLANS.wasm : PLANS[device] ?? PLANS.wasm));
  if (newTokens) plan.decode.newTokens = newTokens;
  if (rowBudgetMs) plan.rowBudgetMs = rowBudgetMs;
  return measure(engine, { device, dtype, plan });
}
globalThis.benchDecoder = benchDecoder;

// Opened by hand: ?engine=...&device=...&dtype=...[&quick=1][&tokens=N] runs one row and shows it.
const q = new URLSearchParams(location.search);
if (q.get("engine")) {
  const out = document.getElementById("out");
  out.textContent = "running...";
  benchDecoder({
    engine: q.get("engine"),
    device: q.get("device") ?? "wasm",
    dtype: q.get("dtype") ?? "fp32",
    quick: q.get("quick") === "1",
    newTokens: Number(q.get("tokens")) || null,
  }).then(
    (r) => (out.textContent = JSON.stringify(r, null, 2)),
    (e) => (out.textContent = `error: ${e?.stack ?? e}`),
  );
}
