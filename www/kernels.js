// "Kernels" page: the WebGPU adapter in detail, and one GEMM run on WebGPU
// and on the CPU path with the same seeded inputs, whose results must agree.
// It uses the raw wasm module's `Context` (tensors and ops, below the model
// API); `init()` from the package wrapper loads that same module instance.
//
// `#kernels-status` ends as "agree", "disagree", "cpu only" (no WebGPU) or
// "error: ..." (the browser tests read it).

import { init } from "/pkg/index.js";
import { $, binary, cardUi, el, message } from "./card.js";

const ui = cardUi("kernels");
const setStatus = ui.setStatus;

const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

// ---- the adapter ----------------------------------------------------------------

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupSizeX",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
];

function formatLimit(name, v) {
  if (typeof v !== "number") return String(v ?? "—");
  const bytes = /Size$/.test(name) && !/WorkgroupSize/.test(name) && v >= 1024;
  return bytes ? `${v.toLocaleString("en-US")} (${binary(v)})` : v.toLocaleString("en-US");
}

function renderAdapter(info) {
  const box = $("#adapter");
  if (!info.available) {
    box.replaceChildren(el("p", { className: "warn" }, `WebGPU unavailable: ${info.reason ?? "no adapter"}`),
      el("p", { className: "muted" }, "The CPU path still works; the GEMM below runs on it alone."));
    return;
  }
  const features = info.features ?? [];
  const badge = (name) => el("span", { className: `badge ${features.includes(name) ? "yes" : "no"}` },
    `${name} ${features.includes(name) ? "✓" : "✗"}`);
  const fallback = info.isFallbackAdapter;
  const all = info.browserFeatures ?? [...features].sort();

  const facts = el("dl", { className: "facts" });
  for (const [k, v] of [
    ["name", info.name],
    ["vendor", info.vendor],
    ["architecture", info.architecture],
    ["driver", info.driver],
    ["backend", info.backend],
    ["device type", info.deviceType],
    ["fallback adapter", fallback === undefined ? "unknown" : fallback ? "yes (software)" : "no"],
  ]) facts.append(el("dt", {}, k), el("dd", {}, v === undefined || v === "" ? "—" : String(v)));
  const badges = el("p", { className: "badges" }, el("span", { className: "muted small" }, "webfm sees:"),
    badge("shader-f16"), badge("subgroups"));

  const body = el("tbody");
  for (const name of LIMITS)
    body.append(el("tr", {}, el("td", { className: "mono" }, name), el("td", { className: "num" }, formatLimit(name, info.limits?.[name]))));
  const limits = el("table", { className: "limits" },
    el("thead", {}, el("tr", {}, el("th", {}, "limit"), el("th", {}, "value"))), body);

  box.replaceChildren(
    el("div", { className: "adapter-grid" }, el("div", {}, facts, badges), limits),
    el("details", { className: "more" },
      el("summary", {}, `all adapter features, as the browser reports them (${all.length})`),
      el("p", { className: "mono small" }, all.length ? all.join(", ") : "none")),
  );
}

// ---- the GEMM ---------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomMatrix(rand, len) {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = rand() * 2 - 1;
  return out;
}

const contexts = new Map(); // device -> Promise<Context>, reused across runs

async function context(webfm, device) {
  if (!contexts.has(device)) contexts.set(device, webfm.Context.create(device));
  try {
    return await contexts.get(device);
  } catch (e) {
    contexts.delete(device); // a later run may try again
    throw e;
  }
}

/** One matmul on `device`; returns the output and the time of the second run. */
async function runOn(webfm, device, m, k, n, aData, bData) {
  const ctx = await context(webfm, device);
  const once = async () => {
    const t0 = performance.now();
    const a = ctx.tensor(aData, [m, k]);
    const b = ctx.tensor(bData, [k, n]);
    let c;
    try {
      c = ctx.matmul(a, b);
      const out = await c.toArray();
      return { out, ms: performance.now() - t0 };
    } finally {
      c?.free();
      a.free();
      b.free();
    }
  };
  await once(); // warm-up: pipeline compilation, buffer pool
  const { out, ms } = await once();
  return { out, ms, describe: ctx.describe() };
}

function showResult(device, r, flops) {
  const box = $(`#result-${device}`);
  box.classList.toggle("failed", !!r.error);
  if (r.error) {
    $(".r-describe", box).textContent = r.error;
    for (const s of [".r-time", ".r-gflops", ".r-values"]) $(s, box).textContent = "—";
    return;
  }
  $(".r-describe", box).textContent = r.describe;
  $(".r-time", box).textContent = `${fmt(r.ms)} ms`;
  $(".r-gflops", box).textContent = `${fmt(flops / (r.ms * 1e6))} GFLOP/s`;
  $(".r-values", box).textContent = Array.from(r.out.subarray(0, 4), (x) => x.toFixed(5)).join("  ");
}

function readSize(id) {
  const v = Number($(id).value);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${id.slice(1).toUpperCase()} must be a positive integer, got "${$(id).value}"`);
  return v;
}

async function runGemm(webfm, adapter) {
  const [m, k, n] = [readSize("#m"), readSize("#k"), readSize("#n")];
  const rand = mulberry32(Number($("#seed").value) >>> 0);
  const aData = randomMatrix(rand, m * k);
  const bData = randomMatrix(rand, k * n);
  const flops = 2 * m * k * n;

  const results = {};
  for (const device of ["webgpu", "cpu"]) {
    if (device === "webgpu" && !adapter.available) {
      results.webgpu = { error: `WebGPU unavailable: ${adapter.reason ?? "no adapter"}`, expected: true };
    } else {
      try {
        results[device] = await runOn(webfm, device, m, k, n, aData, bData);
      } catch (e) {
        results[device] = { error: message(e) };
      }
    }
    showResult(device, results[device], flops);
  }

  const { webgpu: g, cpu: c } = results;
  if (c.error) throw new Error(`CPU matmul failed: ${c.error}`);
  if (g.expected) {
    $("#compare").textContent = "Only the CPU result: this browser has no WebGPU adapter.";
    return setStatus("cpu only");
  }
  if (g.error) throw new Error(`WebGPU matmul failed: ${g.error}`);
  let maxDiff = 0, maxAbs = 0, worst = 0;
  for (let i = 0; i < c.out.length; i++) {
    const d = Math.abs(g.out[i] - c.out[i]);
    if (!(d <= maxDiff)) { maxDiff = d; worst = i; } // NaN counts as worst
    maxAbs = Math.max(maxAbs, Math.abs(c.out[i]), Math.abs(g.out[i]));
  }
  const tol = 1e-4 * Math.max(1, maxAbs); // f32 sums of K products in [-1, 1), in different orders
  const ok = g.out.length === c.out.length && maxDiff <= tol;
  $("#compare").textContent =
    `max |webgpu − cpu| = ${maxDiff.toExponential(2)} at [${Math.floor(worst / n)}, ${worst % n}]` +
    ` · tolerance 1e-4 × max(1, max|C| = ${fmt(maxAbs, 3)}) = ${tol.toExponential(2)}` +
    ` · WebGPU took ${fmt(g.ms / c.ms)}× the CPU's time`;
  setStatus(ok ? "agree" : "disagree");
}

/**
 * Sets up the page; the first `load()` shows `adapter` (a promise) and runs
 * the GEMM. The header's device does not matter here: the GEMM runs on both.
 */
export function kernelsPage(adapter) {
  const button = $("#gemm-run");
  let webfm = null;
  let started = false;

  const run = async (a) => {
    button.disabled = true;
    ui.clear();
    setStatus("running", "running");
    for (const device of ["webgpu", "cpu"]) {
      const box = $(`#result-${device}`);
      box.classList.remove("failed");
      for (const s of [".r-describe", ".r-time", ".r-gflops", ".r-values"]) $(s, box).textContent = "…";
    }
    $("#compare").textContent = "running…";
    try {
      if (!webfm) {
        await init();
        webfm = await import("/pkg/webfm.js"); // the module init() has just set up
      }
      await runGemm(webfm, a);
    } catch (e) {
      ui.showError(e, "GEMM failed");
    } finally {
      button.disabled = false;
    }
  };

  $("#gemm-form").addEventListener("submit", (e) => {
    e.preventDefault();
    adapter.then(run);
  });
  return {
    async load() {
      if (started) return;
      started = true;
      const a = await adapter;
      renderAdapter(a);
      await run(a);
    },
  };
}
