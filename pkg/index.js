// webfm: the package's entry point. A thin layer over the wasm-bindgen
// output (webfm.js): it loads the .wasm once (with progress), puts model
// downloads through the Cache API (cache.js), and keeps the classes' option
// objects optional. Types and documentation: index.d.ts.

import initWasm, * as wasm from "./webfm.js";
import { cachingFetch } from "./cache.js";
import { checkOptions } from "./options.js";

export { clearCache, cacheUsage } from "./cache.js";

let ready = null;

/** Reads a response body, reporting `{file, loaded, total}`, into a new Response the compiler can stream. */
function withProgress(resp, file, onProgress) {
  if (!onProgress || !resp.body) return resp;
  const total = Number(resp.headers.get("content-length")) || undefined;
  let loaded = 0;
  const counted = resp.body.pipeThrough(
    new TransformStream({
      transform(chunk, c) {
        loaded += chunk.byteLength;
        onProgress({ file, loaded, total });
        c.enqueue(chunk);
      },
    }),
  );
  return new Response(counted, { status: resp.status, headers: resp.headers });
}

/**
 * Loads and compiles the WebAssembly module (once; later calls share it).
 * `Model.load` and `TextModel.load` call it themselves; call it early to
 * overlap the download with other work. `wasm` overrides where the .wasm
 * file is (a URL, a Response, bytes or a compiled WebAssembly.Module).
 */
export function init(options = {}) {
  try {
    checkOptions("init options", options, ["wasm", "onProgress"]);
  } catch (e) {
    return Promise.reject(e);
  }
  const { wasm: where, onProgress } = options ?? {};
  ready ??= (async () => {
    let source = where ?? new URL("./webfm_bg.wasm", import.meta.url);
    if (typeof source === "string" || source instanceof URL) {
      const resp = await fetch(source);
      if (!resp.ok) throw new Error(`webfm: could not fetch ${source}: HTTP ${resp.status}`);
      source = withProgress(resp, "webfm_bg.wasm", onProgress);
    }
    await initWasm({ module_or_path: source });
    onProgress?.({ file: "webfm_bg.wasm", phase: "compiled" });
  })().catch((e) => {
    ready = null; // a later call may retry (e.g. after the network is back)
    throw e;
  });
  return ready;
}

/** The WebGPU adapter this page would use (`{available, ...limits}`), or `{available: false, reason}`. */
export async function adapterInfo() {
  await init();
  return wasm.adapterInfo();
}

/**
 * Runs a wasm `load` with the wrapper's options: the Cache API unless
 * `cache: false`, progress for the .wasm too, and a cache left clean when
 * the load fails.
 */
/** `LoadOptions` (index.d.ts): what the wasm `load` takes, and `cache`. */
const LOAD_OPTIONS = ["device", "bits", "group", "onProgress", "cache", "fetch"];

async function load(kind, source, options = {}) {
  checkOptions("load options", options, LOAD_OPTIONS);
  const { cache = true, onProgress, fetch: userFetch, ...rest } = options ?? {};
  await init({ onProgress });
  const caching = cache && !userFetch ? cachingFetch({ mode: cache === "revalidate" ? "revalidate" : "default", onWarning: (warning) => onProgress?.({ warning }) }) : null;
  const opts = { ...rest, onProgress, fetch: userFetch ?? caching?.fetch };
  let inner;
  try {
    inner = await kind.load(source, opts);
  } catch (e) {
    await caching?.finish(false);
    throw e;
  }
  await caching?.finish(true);
  return { inner, cache: caching?.report ?? [] };
}

/** What both model classes share: the wasm object, its cache report, fine-tuning and disposal. */
class Loaded {
  #m;
  #cache;
  constructor(inner, cache) {
    this.#m = inner;
    this.#cache = cache;
  }
  /** The wasm object; throws once disposed. */
  _live() {
    if (!this.#m) throw new Error("webfm: this model was disposed");
    return this.#m;
  }
  /** Trains an adapter (see docs/API.md); the model uses it from then on. */
  finetune(examples, options = {}) {
    return this._live().finetune(examples, options);
  }
  loadAdapter(source, options = {}) {
    return this._live().loadAdapter(source, options);
  }
  unloadAdapter() {
    this._live().unloadAdapter();
  }
  info() {
    return { ...this._live().info(), cache: this.#cache };
  }
  /** Frees the model's GPU memory and wasm objects now; later calls throw. */
  dispose() {
    if (!this.#m) return;
    this.#m.dispose();
    this.#m.free();
    this.#m = null;
  }
}

/** An encoder (BERT, MiniLM, DistilBERT): embeddings, classification, zero-shot, similarity. */
export class Model extends Loaded {
  static async load(source, options) {
    const { inner, cache } = await load(wasm.Model, source, options);
    return new Model(inner, cache);
  }
  embed(texts, options = {}) {
    return this._live().embed(texts, options);
  }
  classify(texts, options = {}) {
    return this._live().classify(texts, options);
  }
  zeroShot(text, labels, options = {}) {
    return this._live().zeroShot(text, labels, options);
  }
  similarity(a, b) {
    return this._live().similarity(a, b);
  }
  tokenize(text, options = {}) {
    return this._live().tokenize(text, options);
  }
}

/** A decoder (Llama, SmolLM2, Qwen2, Mistral, GPT-2): streamed generation, chat templates, logits. */
export class TextModel extends Loaded {
  static async load(source, options) {
    const { inner, cache } = await load(wasm.TextModel, source, options);
    return new TextModel(inner, cache);
  }
  generate(prompt, options = {}) {
    return this._live().generate(prompt, options);
  }
  logits(prompt, options = {}) {
    return this._live().logits(prompt, options);
  }
  applyChatTemplate(messages) {
    return this._live().applyChatTemplate(messages);
  }
  tokenize(text) {
    return this._live().tokenize(text);
  }
}
