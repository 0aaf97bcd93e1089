// Browser GEMM benchmark page logic (bench/gemm.html). Runs benchGemm over the
// cases below, fills the table, and leaves the results in `window.benchResults`
// (or the failure in `window.benchError`) for bench/run-browser.mjs.
//
// Query string: ?devices=webgpu,cpu  &kernels=tiled,naive  &sizes=256,512,1024,gemv,gemv-bt
// &target_ms=1500 (time each measured run aims at; iterations are extrapolated from
// the previous size, so slow cases such as naive 1024³ on SwiftShader run once).

const $ = (s) => document.querySelector(s);
const params = new URLSearchParams(location.search);
const list = (name, dflt) => (params.get(name) ?? dflt).split(",").map((s) => s.trim()).filter(Boolean);

const SIZES = {
  256: [256, 256, 256],
  512: [512, 512, 512],
  1024: [1024, 1024, 1024],
  gemv: [1, 4096, 4096], // m = 1: one token through a 4096×4096 layer
  "gemv-bt": [1, 4096, 4096, true], // the same with B stored [N, K] (a linear layer's weight)
};
const TARGET_MS = Number(params.get("target_ms") ?? 1500);
const MAX_ITERS = 20;

function cases() {
  const devices = list("devices", "webgpu,cpu");
  const kernels = list("kernels", "tiled,naive");
  const sizes = list("sizes", "256,512,1024,gemv,gemv-bt");
  const out = [];
  for (const device of devices)
    for (const kernel of kernels) {
      if (device === "cpu" && kernel !== "tiled") continue; // the CPU path has one kernel
      for (const s of sizes) {
        if (!SIZES[s]) throw new Error(`unknown size "${s}" (have ${Object.keys(SIZES).join(", ")})`);
        out.push({ device, kernel, size: s, mkn: SIZES[s] });
      }
    }
  return out;
}

function addRow(r) {
  const td = (text, cls = "") => Object.assign(document.createElement("td"), { textContent: text, className: cls });
  const tr = document.createElement("tr");
  tr.append(td(r.device), td(r.kernel), td(`${r.m}×${r.k}×${r.n}`), td(String(r.iters), "num"),
    td(r.error ? "—" : r.ms.toFixed(2), "num"), td(r.error ? r.error : r.gflops.toFixed(2), r.error ? "" : "num"));
  $("#results tbody").append(tr);
}

async function main() {
  const webfm = await import("/pkg/webfm.js");
  await webfm.default();
  const info = await webfm.adapterInfo();
  const adapter = info.available
    ? `${info.name || info.architecture || "?"} (${info.backend}, ${info.deviceType}${info.isFallbackAdapter ? ", fallback" : ""})`
    : `no WebGPU: ${info.reason}`;
  $("#adapter").textContent = adapter;
  window.benchAdapter = info;

  const results = [];
  const lastGflops = new Map(); // "device/kernel" -> GFLOP/s of the previous size
  for (const c of cases()) {
    const [m, k, n, bt = false] = c.mkn;
    const flops = 2 * m * k * n;
    const key = `${c.device}/${c.kernel}/${m === 1 ? "gemv" : "gemm"}/${bt}`;
    $("#status").textContent = `${c.device} ${c.kernel} ${m}×${k}×${n}`;
    let r;
    try {
      // benchGemm warms up (compiles the pipeline) before it times. Pick the
      // iterations from the previous size's speed; without one, probe once.
      let gflops = lastGflops.get(key);
      if (gflops === undefined) gflops = (await webfm.benchGemm(c.device, m, k, n, c.kernel, 1, bt)).gflops;
      const predictedMs = flops / (gflops * 1e6);
      const iters = Math.max(1, Math.min(MAX_ITERS, Math.round(TARGET_MS / Math.max(predictedMs, 1e-3))));
      r = await webfm.benchGemm(c.device, m, k, n, c.kernel, iters, bt);
      lastGflops.set(key, r.gflops);
    } catch (e) {
      r = { device: c.device, kernel: c.kernel, m, k, n, bt, iters: 0, error: String(e?.message ?? e) };
    }
    r = { requested: c.kernel, ...r, adapter: r.adapter ?? (c.device === "webgpu" ? adapter : "cpu") };
    results.push(r);
    addRow(r);
    console.log(`bench ${JSON.stringify(r)}`);
  }
  $("#status").textContent = "done";
  $("#status").dataset.state = "agree";
  // One token through a linear layer: f32 vs 4- and 8-bit affine weights
  // (group 32), as effective GB/s of weights read. ?qgemv=0 skips it.
  const qresults = [];
  if (params.get("qgemv") !== "0") {
    for (const device of list("devices", "webgpu,cpu"))
      for (const [n, k] of [[4096, 4096], [1536, 576], [576, 1536]])
        for (const bits of [32, 8, 4]) {
          $("#status").textContent = `${device} qgemv ${bits === 32 ? "f32" : `q${bits}`} ${n}×${k}`;
          let r;
          try {
            r = await webfm.benchQGemv(device, n, k, bits, 32, 10);
          } catch (e) {
            r = { device, n, k, bits, error: String(e?.message ?? e) };
          }
          qresults.push(r);
          console.log(`bench ${JSON.stringify(r)}`);
        }
  }
  window.benchQResults = qresults;
  window.benchResults = results;
}

main().catch((e) => {
  const msg = String(e?.stack ?? e?.message ?? e);
  $("#error-text").textContent = msg;
  $("#error").hidden = false;
  $("#status").textContent = "error";
  $("#status").dataset.state = "error";
  window.benchError = msg;
});
