// transformers.js (npm @huggingface/transformers, with its bundled onnxruntime-web)
// as an engine of decoder.mjs, fully offline: the library, the ORT wasm files
// and the model all come from the page's own server.
//
// AutoTokenizer + AutoModelForCausalLM.generate (not the text-generation
// pipeline: it would add its own prompt handling and decode the text). Greedy
// (do_sample: false) with eos_token_id: null, so neither the EOS stopping
// criterion nor the min_new_tokens EOS mask exists and exactly max_new_tokens
// argmax ids come out. A streamer object times the tokens: generate() calls
// put() once with the prompt, then once per new token right after sampling it.
//
// Traps (see README.md): allowLocalModels / localModelPath as a path / no
// browser cache / ORT wasm files from node_modules / numThreads = 1, as in
// bench/encoder; dtype picks the file (fp32 -> onnx/model.onnx, q8 ->
// onnx/model_quantized.onnx; the default would be q8 on wasm, so it is always
// passed); "q8w" (8-bit weights only, MatMulNBits) is not a transformers.js
// dtype: it is loaded as model_file_name "model_q8w" with dtype "fp32".

import { MODEL_ID, MODEL_ROOT } from "./decoder.mjs";

const NODE_MODULES = new URL("./node_modules/", import.meta.url);
const TJS_URL = new URL("@huggingface/transformers/dist/transformers.js", NODE_MODULES).href;
const ORT_DIST = new URL("onnxruntime-web/dist/", NODE_MODULES);

let tokenizer = null;
let model = null;

export default {
  name: "transformers.js",

  async load(device, dtype) {
    const t0 = performance.now();
    const { env, AutoTokenizer, AutoModelForCausalLM } = await import(TJS_URL);
    const t1 = performance.now();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = MODEL_ROOT; // a path, not a URL (see bench/encoder/README.md)
    env.useBrowserCache = false; // every row loads cold from the server
    env.useWasmCache = false;
    const wasm = env.backends.onnx.wasm;
    wasm.numThreads = 1;
    wasm.proxy = false;
    wasm.wasmPaths = {
      mjs: new URL("ort-wasm-simd-threaded.asyncify.mjs", ORT_DIST).href,
      wasm: new URL("ort-wasm-simd-threaded.asyncify.wasm", ORT_DIST).href,
    };
    const file = dtype === "q8w" ? { dtype: "fp32", model_file_name: "model_q8w" } : { dtype };
    tokenizer = await AutoTokenizer.from_pretrained(MODEL_ID);
    const t2 = performance.now();
    model = await AutoModelForCausalLM.from_pretrained(MODEL_ID, { device, ...file });
    const t3 = performance.now();
    const r = (x) => Math.round(x * 100) / 100;
    return {
      version: env.version,
      details: {
        onnxruntime_web: env.backends.onnx.versions?.web ?? null,
        import_ms: r(t1 - t0),
        tokenizer_ms: r(t2 - t1),
        model_ms: r(t3 - t2),
        numThreads: wasm.numThreads,
        file: `onnx/${file.model_file_name ?? "model"}${dtype === "q8" ? "_quantized" : ""}.onnx`,
        session_inputs: model.sessions?.model?.inputNames?.length ?? null,
      },
    };
  },

  async tokenize(text) {
    return tokenizer.encode(text, { add_special_tokens: false });
  },

  async generate(text, { maxNewTokens, onToken }) {
    const inputs = tokenizer(text, { add_special_tokens: false });
    const promptLength = inputs.input_ids.dims.at(-1);
    let prompt = true;
    const streamer = {
      put(value) {
        if (prompt) {
          prompt = false; // the first put() is the prompt
          return;
        }
        onToken(Number(value[0][0]));
      },
      end() {},
    };
    const sequences = await model.generate({
      ...inputs,
      max_new_tokens: maxNewTokens,
      do_sample: false,
      eos_token_id: null,
      streamer,
    });
    const ids = sequences.tolist()[0].slice(promptLength).map(Number);
    sequences.dispose?.();
    inputs.input_ids.dispose?.();
    inputs.attention_mask.dispose?.();
    return { ids };
  },

  async dispose() {
    await model?.dispose();
    model = null;
    tokenizer = null;
  },
};
