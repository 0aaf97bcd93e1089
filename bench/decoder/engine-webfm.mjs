// webfm (this repository's pkg/, built by scripts/build.sh) as an engine of
// decoder.mjs: `webfm convert`'s SmolLM2 folder (.cache/models/smollm2: the
// GGUF's Q4_1 weights as affine 4-bit, its Q8_0 embedding as 8-bit, both
// lossless), i.e. the same weight values transformers.js runs as f32.
// device "wasm" -> webfm's CPU path (candle + its quantized loops on wasm
// simd128, one thread), "webgpu" -> its WebGPU kernels. Every dtype row runs
// those 4/8-bit weights: webfm reads them as stored.

import { WEBFM_MODEL_BASE } from "./decoder.mjs";

let model = null;

export default {
  name: "webfm",

  async load(device, dtype) {
    const webfm = await import("/pkg/webfm.js");
    await webfm.default();
    model = await webfm.TextModel.load(WEBFM_MODEL_BASE, { device: device === "wasm" ? "cpu" : "webgpu" });
    const info = model.info();
    return { version: "0.1.0", details: { device: info.device, weights: "affine 4-bit g32 (embedding/head 8-bit g32)", askedDtype: dtype, gpuBytes: info.gpuBytes, load: info.load } };
  },

  async tokenize(text) {
    return Array.from(model.tokenize(text));
  },

  async generate(text, { maxNewTokens, onToken }) {
    const it = model.generate(text, { maxNewTokens, ignoreEos: true, onToken });
    for await (const _ of it) { /* the text is not needed here */ }
    const s = it.stats();
    return { ids: s.ids, stats: s };
  },

  async dispose() {
    model?.dispose();
    model = null;
  },
};
