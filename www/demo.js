// webfm demo: show the WebGPU adapter, then run one GEMM on WebGPU and on the
// CPU path with the same seeded inputs and check that they agree.
//
// Then the "Embed & search" card (search.js) loads a sentence encoder.
//
// `#status` ends as "agree", "disagree" or "error: ..." (the browser tests read it);
// `#search-status` ends as "ready" or "error: ...".
// Every failure lands in the `#error` panel; nothing is left uncaught.

const $ = (sel, root = document) => root.querySelector(sel);

// ---- error panel and status -------------------------------------------------

function showError(err) {
  const msg = err instanceof Error ? err.message || String(err) : String(err);
  $("#error-text").textContent = err?.stack && !err.stack.includes(msg) ? `${msg}\n${err.stack}` : msg;
  $("#error").hidden = false;
  return msg;
}

function setStatus(state, text = state) {
  const el = $("#status");
  el.dataset.state = state;
  el.textContent = text;
}

window.addEventListener("error", (e) => showError(e.error ?? e.message));
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  setStatus("error", `error: ${showError(e.reason)}`);
});

// ---- helpers -----------------------------------------------------------------

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

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

// ---- adapter card ------------------------------------------------------------

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
  if (/Size$/.test(name) && v >= 1024 && !/WorkgroupSize/.test(name)) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0, x = v;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    return `${v.toLocaleString("en-US")} (${Number.isInteger(x) ? x : x.toFixed(1)} ${units[i]})`;
  }
  return v.toLocaleString("en-US");
}

/**
 * wgpu's WebGPU backend passes on only the adapter's description and fallback
 * flag, so fill empty fields from the browser's own GPUAdapterInfo.
 */
async function withBrowserInfo(info) {
  if (!info?.available || !navigator.gpu) return info;
  try {
    const a = await navigator.gpu.requestAdapter();
    const b = a?.info;
    if (!b) return info;
    const empty = (v) => v === undefined || v === "" || v === "unnamed adapter";
    const out = { ...info };
    if (empty(out.vendor)) out.vendor = b.vendor;
    if (empty(out.architecture)) out.architecture = b.architecture;
    if (empty(out.name)) out.name = b.description || [b.vendor, b.architecture].filter(Boolean).join(" ") || out.name;
    out.browserFeatures = [...a.features].sort();
    return out;
  } catch {
    return info;
  }
}

function renderAdapter(info) {
  const box = $("#adapter");
  box.replaceChildren();
  if (!info?.available) {
    box.append(el("p", { className: "warn" }, `WebGPU unavailable: ${info?.reason ?? "no adapter"}`),
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

  const limits = el("table", { className: "limits" },
    el("thead", {}, el("tr", {}, el("th", {}, "limit"), el("th", {}, "value"))));
  const body = el("tbody");
  for (const name of LIMITS)
    body.append(el("tr", {}, el("td", { className: "mono" }, name), el("td", { className: "num" }, formatLimit(name, info.limits?.[name]))));
  limits.append(body);

  box.append(
    el("div", { className: "adapter-grid" },
      el("div", {}, facts, badges),
      limits),
    el("details", { className: "features" },
      el("summary", {}, `all adapter features, as the browser reports them (${all.length})`),
      el("p", { className: "mono small" }, all.length ? all.join(", ") : "none")),
  );
}

// ---- GEMM card ---------------------------------------------------------------

const contexts = new Map(); // device -> Context (reused across runs)

async function getContext(webfm, device) {
  if (!contexts.has(device)) contexts.set(device, webfm.Context.create(device));
  try {
    return await contexts.get(device);
  } catch (e) {
    contexts.delete(device);
    throw e;
  }
}

/** One matmul on `device`; returns the output and the time of the second run. */
async function runOn(webfm, device, m, k, n, aData, bData) {
  const ctx = await getContext(webfm, device);
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
  if (r.error) {
    box.classList.add("failed");
    $(".r-describe", box).textContent = r.error;
    for (const s of [".r-time", ".r-gflops", ".r-values"]) $(s, box).textContent = "—";
    return;
  }
  box.classList.remove("failed");
  $(".r-describe", box).textContent = r.describe;
  $(".r-time", box).textContent = `${fmt(r.ms)} ms`;
  $(".r-gflops", box).textContent = `${fmt(flops / (r.ms * 1e6))} GFLOP/s`;
  $(".r-values", box).textContent = Array.from(r.out.subarray(0, 4), (x) => x.toFixed(5)).join("  ");
}

function clearResults() {
  for (const device of ["webgpu", "cpu"]) {
    const box = $(`#result-${device}`);
    box.classList.remove("failed");
    for (const s of [".r-describe", ".r-time", ".r-gflops", ".r-values"]) $(s, box).textContent = "…";
  }
  $("#compare").textContent = "running…";
}

async function runGemm(webfm) {
  const read = (id) => {
    const v = Number($(id).value);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${id.slice(1).toUpperCase()} must be a positive integer, got "${$(id).value}"`);
    return v;
  };
  const [m, k, n] = [read("#m"), read("#k"), read("#n")];
  const seed = Number($("#seed").value) >>> 0;
  const rand = mulberry32(seed);
  const aData = randomMatrix(rand, m * k);
  const bData = randomMatrix(rand, k * n);
  const flops = 2 * m * k * n;

  const results = {};
  for (const device of ["webgpu", "cpu"]) {
    try {
      results[device] = await runOn(webfm, device, m, k, n, aData, bData);
    } catch (e) {
      results[device] = { error: e instanceof Error ? e.message : String(e) };
    }
    showResult(device, results[device], flops);
  }

  const { webgpu: g, cpu: c } = results;
  if (c.error) throw new Error(`CPU matmul failed: ${c.error}`);
  if (g.error) {
    $("#compare").textContent = "Only the CPU result is available.";
    setStatus("error", `error: ${g.error}`);
    return;
  }
  let maxDiff = 0, maxAbs = 0, worst = 0;
  for (let i = 0; i < c.out.length; i++) {
    const d = Math.abs(g.out[i] - c.out[i]);
    if (!(d <= maxDiff)) { maxDiff = d; worst = i; } // NaN counts as worst
    maxAbs = Math.max(maxAbs, Math.abs(c.out[i]), Math.abs(g.out[i]));
  }
  const tol = 1e-4 * Math.max(1, maxAbs);
  const ok = g.out.length === c.out.length && maxDiff <= tol;
  $("#compare").textContent =
    `max |webgpu − cpu| = ${maxDiff.toExponential(2)} at [${Math.floor(worst / n)}, ${worst % n}]` +
    ` · tolerance 1e-4 × max(1, max|C| = ${fmt(maxAbs, 3)}) = ${tol.toExponential(2)}` +
    ` · WebGPU took ${fmt(g.ms / c.ms)}× the CPU's time`;
  setStatus(ok ? "agree" : "disagree");
}

// ---- embed & search card -------------------------------------------------------

function setSearchStatus(state, text = state) {
  const el = $("#search-status");
  el.dataset.state = state;
  el.textContent = text;
  el.title = text;
}

/** Runs the search card after the GEMM; its failures never touch `#status`. */
async function runSearchCard(webfm) {
  try {
    const { startSearch } = await import("./search.js");
    await startSearch(webfm, { showError });
  } catch (e) {
    setSearchStatus("error", `error: ${showError(e)}`);
  }
}

// ---- chat card -----------------------------------------------------------------

/** Runs the chat card after the search card; its failures stay in the card. */
async function runChatCard(webfm, adapter) {
  try {
    const { startChat } = await import("./chat.js");
    await startChat(webfm, { showError, adapter });
  } catch (e) {
    const el = $("#chat-status");
    el.dataset.state = "error";
    el.textContent = `error: ${showError(e)}`;
  }
}

// ---- start -------------------------------------------------------------------

async function main() {
  let webfm;
  try {
    webfm = await import("../pkg/webfm.js");
    await webfm.default();
  } catch (e) {
    throw new Error(`could not load the wasm package (run scripts/build.sh): ${e?.message ?? e}`);
  }

  let adapter;
  try {
    adapter = await withBrowserInfo(await webfm.adapterInfo());
    renderAdapter(adapter);
  } catch (e) {
    adapter = { available: false, reason: e?.message ?? String(e) };
    renderAdapter(adapter);
  }

  const form = $("#gemm-form");
  const button = $("#run");
  const run = async () => {
    button.disabled = true;
    setStatus("running", "running");
    $("#error").hidden = true;
    clearResults();
    try {
      await runGemm(webfm);
    } catch (e) {
      setStatus("error", `error: ${showError(e)}`);
    } finally {
      button.disabled = false;
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  await run();
  // After the first GEMM, so the model's download and upload do not skew its timings.
  await runSearchCard(webfm);
  await runChatCard(webfm, adapter);
}

main().catch((e) => {
  const msg = showError(e);
  setStatus("error", `error: ${msg}`);
  setSearchStatus("error", `error: ${msg}`);
});
