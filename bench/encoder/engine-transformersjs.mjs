// transformers.js (npm @huggingface/transformers, with its bundled onnxruntime-web)
// as an engine of encoder.mjs, fully offline: the library, the ORT wasm files
// and the model all come from the page's own server.
//
// Traps (see README.md): in a browser transformers.js defaults to
// allowLocalModels = false and to ORT wasm files on a CDN; dtype "q8" means
// onnx/model_quantized.onnx and is the *default* on wasm, so it is always passed;
// with cross-origin isolation ORT would start as many threads as cores.

import { MODEL_ID, MODEL_ROOT } from "./encoder.mjs";

const NODE_MODULES = new URL("./node_modules/", import.meta.url);
const TJS_URL = new URL("@huggingface/transformers/dist/transformers.js", NODE_MODULES).href;
const ORT_DIST = new URL("onnxruntime-web/dist/", NODE_MODULES);

let pipe = null;

export default {
  name: "transformers.js",

  async load(device, dtype) {
    const t0 = performance.now();
    const { env, pipeline } = await import(TJS_URL);
    const t1 = performance.now();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    // A path, not a full URL: transformers.js' file-exists check (get_file_metadata)
    // skips local paths that parse as http(s) URLs, and the pipeline then silently
    // comes without a tokenizer ("this.tokenizer is not a function").
    env.localModelPath = MODEL_ROOT;
    env.useBrowserCache = false; // no Cache API: every row loads cold from the server
    env.useWasmCache = false;
    const wasm = env.backends.onnx.wasm;
    wasm.numThreads = 1;
    wasm.proxy = false;
    // The bundled ORT (webgpu build) loads the asyncify variant; same version as
    // node_modules/onnxruntime-web (checked by setup.sh).
    wasm.wasmPaths = {
      mjs: new URL("ort-wasm-simd-threaded.asyncify.mjs", ORT_DIST).href,
      wasm: new URL("ort-wasm-simd-threaded.asyncify.wasm", ORT_DIST).href,
    };
    pipe = await pipeline("feature-extraction", MODEL_ID, { device, dtype });
    const t2 = performance.now();
    return {
      version: env.version,
      details: {
        onnxruntime_web: env.backends.onnx.versions?.web ?? null,
        import_ms: Math.round((t1 - t0) * 100) / 100,
        pipeline_ms: Math.round((t2 - t1) * 100) / 100,
        numThreads: wasm.numThreads,
        file: `onnx/model${dtype === "q8" ? "_quantized" : ""}.onnx`,
      },
    };
  },

  async embed(texts) {
    const out = await pipe(texts, { pooling: "mean", normalize: true });
    const [n, d] = out.dims;
    const data = out.data;
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(data.slice(i * d, (i + 1) * d));
    out.dispose?.();
    return rows;
  },

  async countTokens(texts) {
    const { attention_mask } = pipe.tokenizer(texts, { padding: true, truncation: true });
    const [n, l] = attention_mask.dims;
    const m = attention_mask.data;
    const counts = [];
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let j = 0; j < l; j++) c += Number(m[i * l + j]);
      counts.push(c);
    }
    return counts;
  },

  async dispose() {
    await pipe?.dispose();
    pipe = null;
  },
};
