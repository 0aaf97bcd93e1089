// Encoder benchmark harness: the same texts and the same timing code for every
// engine, so webfm and transformers.js are measured side by side in one page.
//
//   encoder.html?engine=transformers.js&device=wasm&dtype=fp32   (runs on open)
//   window.benchEncoder({ engine, device, dtype, ... })           (bench/encoder/run.mjs)
//
// An engine is a module whose default export is
//
//   {
//     name: "transformers.js",
//     async load(device, dtype) -> info    // device "wasm" | "webgpu", dtype "fp32" | "q8";
//                                           // everything from import to ready (module, wasm,
//                                           // weights, session/shader compile) counts as load;
//                                           // info: { version, details: {...} } (free-form)
//     async embed(texts) -> Float32Array[]   // mean-pooled, L2-normalised, one per text
//     async countTokens(texts) -> number[]   // optional: tokens per text incl. [CLS]/[SEP]
//     async dispose()                        // optional
//   }
//
// Its files: the model folder MODEL_BASE (served from .cache/onnx-minilm by run.mjs)
// holds config.json, tokenizer.json, tokenizer_config.json, model.safetensors (the f32
// weights, for webfm) and onnx/model.onnx, onnx/model_quantized.onnx (for transformers.js).

export const MODEL_ROOT = "/models/";
export const MODEL_ID = "onnx-minilm";
export const MODEL_BASE = `${MODEL_ROOT}${MODEL_ID}/`;

/** Engines by name; run.mjs skips one whose module is missing. */
export const ENGINES = {
  "transformers.js": () => import("./engine-transformersjs.mjs"),
  webfm: () => import("./engine-webfm.mjs"),
};

export const TEXTS_SHORT = Object.freeze(["This is a test sentence."]);

/** 8 texts of exactly 128 tokens each (incl. [CLS]/[SEP]) with MiniLM's tokenizer. */
export const BATCH_TOKENS = 128;
export const TEXTS_BATCH = Object.freeze([
  "The old lighthouse on the northern cape was built in 1874 to guide fishing boats through a narrow channel between two reefs. For more than a century a family of keepers lived in the small stone house at its base, trimming the wick every evening and winding the clockwork that turned the great lens. When the light was automated in 1989, the last keeper moved to the village, but he still walked up the hill each morning to check that the lamp had done its work. Today the tower is a museum, and visitors can climb the spiral stairs to the gallery, where on a clear day the view reaches far across the bay.",
  "Bread dough needs time more than it needs effort. After mixing flour, water, salt and a little yeast, most bakers let the dough rest so that the flour absorbs the water and gluten begins to form on its own. A few gentle folds during the first hours give the loaf strength without heavy kneading. The slow rise that follows, often overnight in a cool kitchen, lets the yeast and bacteria develop the flavour that distinguishes a good loaf from an ordinary one. Shaping should be firm but quick, and the oven must be very hot, ideally with steam for the first twenty minutes, for a thin crust.",
  "A compiler translates a program written in one language into another, usually from a readable source language into machine code that a processor can execute. The work is split into stages: the front end reads the text, checks its grammar and builds a tree that represents the program; the middle end transforms that tree into an intermediate form and applies optimisations such as removing dead code, inlining small functions and moving computations out of loops; and the back end chooses instructions, assigns registers and lays out the final binary. Each stage is tested separately, because a small mistake in an early stage can silently produce wrong results much later.",
  "Migrating birds cover astonishing distances every year. The bar-tailed godwit flies from Alaska to New Zealand without stopping, a journey of more than eleven thousand kilometres that takes about nine days. Before leaving, the birds eat almost constantly and nearly double their body weight, while their digestive organs shrink to save mass for the flight. Scientists who attached small satellite tags to several godwits found that they choose departure days with favourable winds and adjust their altitude during the trip to find the best air currents. How they navigate over open ocean with no landmarks remains an active field of research, with the sun, the stars and magnetism.",
  "The city council met on Tuesday evening to discuss the new plan for public transport. Under the proposal, three bus lines would be merged into a single route with more frequent service, and a protected cycle lane would be added along the main avenue. Several residents spoke in favour, saying the current timetable makes it hard to reach work on time, while shop owners worried that losing parking spaces would reduce the number of customers. The council agreed to run a six month trial starting in spring, to count passengers and cyclists before and after the change, and to publish the results online before taking a final decision next year. Both sides agreed to wait.",
  "Learning a musical instrument as an adult is different from learning as a child, but it is far from impossible. Adults usually understand theory more quickly and can plan their practice, while children tend to have more free time and less fear of making mistakes. Teachers recommend short daily sessions rather than long weekly ones, because the hands and the brain consolidate new movements during sleep. Recording yourself once a week helps you hear progress that is hard to notice while playing. Most importantly, choosing pieces you genuinely enjoy keeps motivation high through the difficult first months, when the gap between what you can hear and what you can play feels largest. Just keep going.",
  "The museum's new exhibition follows the history of timekeeping from sundials to atomic clocks. In the first room, visitors see water clocks from ancient Egypt and China, which measured hours by the steady flow of water from one vessel into another. The next rooms show the mechanical clocks of medieval towers, the pendulum clocks that made accurate astronomy possible, and the marine chronometers that finally solved the problem of finding longitude at sea. The final room explains how modern clocks count the vibrations of caesium atoms, and how the satellites that guide our phones depend on keeping time to within a few billionths of a second.",
  "Good documentation answers the questions a reader actually has, in the order they are likely to have them. It starts with what the software does and how to install it, then shows a short example that works when copied and pasted, and only afterwards explains the options and the design in detail. Reference pages should list every public function with its arguments, return values and errors, while guides should walk through common tasks from start to finish. Documentation also needs the same care as code: it should be reviewed, tested where possible, and updated in the same change that alters the behaviour it describes, otherwise readers very soon stop trusting it.",
]);

/** First values of the fp32 embedding of TEXTS_SHORT[0] (PyTorch; shared/TOOLCHAIN.md). */
export const REFERENCE_SHORT = Object.freeze([0.0842964, 0.0579537, 0.0044934, 0.105821, 0.0070834]);

/** Timing plans: runs after one warm-up, cut short past budgetMs (at least minRuns). */
export const PLANS = {
  wasm: { short: { runs: 20, minRuns: 5, budgetMs: 30_000 }, batch: { runs: 5, minRuns: 2, budgetMs: 60_000 } },
  webgpu: { short: { runs: 10, minRuns: 3, budgetMs: 60_000 }, batch: { runs: 3, minRuns: 1, budgetMs: 90_000 } },
};

const log = (...a) => console.log("bench", ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function checkEmbeddings(out, n) {
  if (!Array.isArray(out) || out.length !== n) throw new Error(`embed returned ${out?.length} vectors for ${n} texts`);
  for (const v of out) {
    let s = 0;
    for (const x of v) s += x * x;
    if (!(Math.abs(Math.sqrt(s) - 1) < 1e-3)) throw new Error(`embedding not normalised (norm ${Math.sqrt(s)})`);
  }
}

async function timeRuns(label, engine, texts, plan) {
  const t0 = performance.now();
  const warm = await engine.embed(texts);
  const warmup = performance.now() - t0;
  checkEmbeddings(warm, texts.length);
  log(`${label} warm-up ${round(warmup)} ms`);
  const times = [];
  const start = performance.now();
  for (let i = 0; i < plan.runs; i++) {
    const t = performance.now();
    await engine.embed(texts);
    times.push(performance.now() - t);
    if (times.length >= plan.minRuns && performance.now() - start > plan.budgetMs) break;
  }
  log(`${label} ${times.length} runs, median ${round(median(times))} ms`);
  return {
    warmup_ms: round(warmup),
    runs: times.length,
    median_ms: round(median(times)),
    min_ms: round(Math.min(...times)),
    max_ms: round(Math.max(...times)),
    times_ms: times.map((x) => round(x)),
    first: warm[0],
  };
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

/**
 * Load `engine` on (device, dtype) and time it: load, TEXTS_SHORT, TEXTS_BATCH.
 * Returns a plain JSON-able object (the embedding of TEXTS_SHORT[0] included, for
 * cross-engine checks).
 */
export async function measure(engine, { device, dtype, plan = PLANS[device] ?? PLANS.wasm } = {}) {
  const row = { engine: engine.name, device, dtype, userAgent: navigator.userAgent, crossOriginIsolated, adapter: device === "webgpu" ? await adapterInfo() : null };
  const t0 = performance.now();
  row.info = (await engine.load(device, dtype)) ?? {};
  row.load_ms = round(performance.now() - t0);
  log(`${engine.name} ${device} ${dtype}: load ${row.load_ms} ms`);
  if (engine.countTokens) {
    row.tokens_short = await engine.countTokens(TEXTS_SHORT);
    row.tokens_batch = await engine.countTokens(TEXTS_BATCH);
    if (row.tokens_batch.some((n) => Math.abs(n - BATCH_TOKENS) > 2)) console.warn(`bench: batch token counts ${row.tokens_batch} (expected ${BATCH_TOKENS})`);
  }
  const short = await timeRuns("short", engine, TEXTS_SHORT, plan.short);
  const batch = await timeRuns("batch", engine, TEXTS_BATCH, plan.batch);
  row.embedding_short = Array.from(short.first, (x) => Math.fround(x));
  delete short.first;
  delete batch.first;
  row.short = short;
  row.batch = batch;
  row.batch.texts_per_s = round((TEXTS_BATCH.length * 1000) / batch.median_ms);
  row.first5 = row.embedding_short.slice(0, 5).map((x) => round(x, 7));
  row.max_abs_diff_reference5 = Math.max(...REFERENCE_SHORT.map((r, i) => Math.abs(r - row.embedding_short[i])));
  await engine.dispose?.();
  return row;
}

/** Entry point for run.mjs: `benchEncoder({ engine: "transformers.js", device, dtype })`. */
export async function benchEncoder({ engine: name, device, dtype, plan }) {
  const factory = ENGINES[name];
  if (!factory) throw new Error(`unknown engine ${name} (have ${Object.keys(ENGINES).join(", ")})`);
  const engine = (await factory()).default;
  return measure(engine, { device, dtype, plan });
}
globalThis.benchEncoder = benchEncoder;

// Opened by hand: ?engine=...&device=...&dtype=... runs one row and shows it.
const q = new URLSearchParams(location.search);
if (q.get("engine")) {
  const out = document.getElementById("out");
  benchEncoder({ engine: q.get("engine"), device: q.get("device") ?? "wasm", dtype: q.get("dtype") ?? "fp32" }).then(
    (r) => {
      delete r.embedding_short;
      out.textContent = JSON.stringify(r, null, 2);
    },
    (e) => (out.textContent = `error: ${e?.stack ?? e}`),
  );
}
