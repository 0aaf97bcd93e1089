// webfm (this repository's pkg/, built by scripts/build.sh) as an engine of
// encoder.mjs: the same MiniLM folder as transformers.js (its safetensors
// weights and the same tokenizer.json), device "wasm" -> webfm's CPU path
// (candle on wasm simd128, one thread), "webgpu" -> its WebGPU kernels;
// dtype "q8" -> the f32 weights quantized to 8 bits (group 64) while loading.

import { MODEL_BASE } from "./encoder.mjs";

let model = null;

export default {
  name: "webfm",

  async load(device, dtype) {
    const webfm = await import("/pkg/webfm.js");
    await webfm.default();
    const options = { device: device === "wasm" ? "cpu" : "webgpu" };
    if (dtype === "q8") Object.assign(options, { bits: 8, group: 64 });
    model = await webfm.Model.load(MODEL_BASE, options);
    const info = model.info();
    return { version: "0.1.0", details: { device: info.device, quantization: info.quantization, load: info.load } };
  },

  async embed(texts) {
    return model.embed([...texts], { normalize: true });
  },

  async countTokens(texts) {
    return texts.map((t) => model.tokenize(t, {}).ids.length);
  },

  async dispose() {
    model?.dispose();
    model = null;
  },
};
