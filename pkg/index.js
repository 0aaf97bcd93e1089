// webfm: the package's entry point. A thin layer over the wasm-bindgen
// output (webfm.js): it loads the .wasm once (with progress), puts model
// downloads through the Cache API (cache.js), and keeps the classes' option
// objects optional. Types and documentation: index.d.ts.

import initWasm, * as wasm from "./webfm.js";
import { cachingFetch } from "./cache.js";
import { checkedFetch, Expected } from "./integrity.js";
import { checkOptions } from "./options.js";
import { isModelId, resolveModel } from "./hub.js";
import { countedResponse, progressTracker } from "./progress.js";
import { chatApi } from "./chat.js";

export { clearCache, cacheUsage } from "./cache.js";
export { env, ModelNotFoundError } from "./hub.js";
export { APIError } from "./chat.js";

let ready = null;

/** Node.js (no DOM): files come from the disk, and there is no Cache API. */
const IN_NODE = typeof process !== "undefined" && !!process.versions?.node && typeof window === "undefined" && typeof WorkerGlobalScope === "undefined";
// Hidden from bundlers: a browser build never loads these.
const nodeModule = (name) => import(/* @vite-ignore */ `node:${name}`);

/**
 * Node's fetch for `file:` URLs (Node's own fetch refuses them): the file as
 * a Response with its length, a 404 when it is absent; other URLs go to `fetch`.
 */
async function nodeFetch(url, init) {
  const href = String(url);
  if (!href.startsWith("file:")) return fetch(url, init);
  const [{ readFile, stat }, { fileURLToPath }] = await Promise.all([nodeModule("fs/promises"), nodeModule("url")]);
  const path = fileURLToPath(href);
  try {
    const st = await stat(path);
    if (!st.isFile()) return new Response("not a file", { status: 404, statusText: "Not Found" });
    const body = init?.method === "HEAD" ? null : await readFile(path);
    const type = path.endsWith(".wasm") ? { "content-type": "application/wasm" } : {};
    return new Response(body, { status: 200, headers: { "content-length": String(st.size), ...type } });
  } catch (e) {
    if (e?.code === "ENOENT" || e?.code === "ENOTDIR") return new Response("not found", { status: 404, statusText: "Not Found" });
    throw e;
  }
}

/** In Node, a path as a `file:` URL; URLs and anything else as they are. */
async function nodeUrl(source) {
  if (!IN_NODE || typeof source !== "string" || /^[a-z][a-z0-9+.-]*:/i.test(source)) return source;
  const [{ pathToFileURL }, { resolve }] = await Promise.all([nodeModule("url"), nodeModule("path")]);
  return pathToFileURL(resolve(source)).href;
}

/** In Node, a folder path as a `file:` URL with its trailing slash. */
async function nodeFolder(source) {
  const url = await nodeUrl(source);
  return IN_NODE && typeof url === "string" && url.startsWith("file:") && !url.endsWith("/") ? `${url}/` : url;
}

/** A response whose body reports `{file, loaded, total}` as it is read, for the compiler to stream. */
function withProgress(resp, file, onProgress) {
  if (!onProgress || !resp.body) return resp;
  const total = Number(resp.headers.get("content-length")) || undefined;
  return countedResponse(resp, (loaded) => onProgress({ file, loaded, total }));
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
      const resp = await (IN_NODE ? nodeFetch(source) : fetch(source));
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
 * The wasm heap now: `{ heapBytes, peakHeapBytes, wasmMemoryBytes }`: bytes
 * allocated and not freed, the most since the last `resetPeak`, and the
 * linear memory (it never shrinks). `dispose()` gives a model's bytes back
 * at once.
 */
export async function memoryStats({ resetPeak = false } = {}) {
  await init();
  return wasm.memoryStats(resetPeak);
}

/** `LoadOptions` (index.d.ts): what the wasm `load` takes, and the wrapper's own. */
const LOAD_OPTIONS = ["device", "bits", "group", "onProgress", "cache", "fetch", "signal", "onDeviceLost", "integrity", "revision"];

const aborted = () => new DOMException("webfm: loading was cancelled", "AbortError");

/**
 * One load: through the cache (unless `cache: false` or a `fetch` of the
 * caller's), every file checked against `integrity` and, from the cache,
 * against the digest stored with it. A cached file that fails its check is
 * evicted and the load runs once more, from the network.
 */
async function load(kind, source, options = {}, retry = true) {
  checkOptions("load options", options, LOAD_OPTIONS);
  const { cache = true, onProgress, fetch: userFetch, signal, onDeviceLost, integrity, revision, ...rest } = options ?? {};
  if (signal?.aborted) throw aborted();
  const expected = new Expected(integrity);
  await init({ onProgress: onProgress && ((p) => onProgress({ status: "wasm", ...p })) });
  const given = source;
  const name = typeof source === "string" ? source : "model";
  const plainFetch = IN_NODE ? nodeFetch : fetch;
  if (isModelId(source)) {
    const probe = async (url) => {
      try {
        const r = await (userFetch ? userFetch(url) : plainFetch(await nodeUrl(url), { method: "HEAD", signal }));
        return r.ok;
      } catch {
        return false;
      }
    };
    source = await resolveModel(source, { revision, probe });
  } else if (revision !== undefined) {
    throw new TypeError("webfm: load options: revision is for models given by id (\"owner/name\"), not folder URLs or files");
  }
  source = await nodeFolder(source);
  const folder = typeof source === "string" ? new URL(source.endsWith("/") ? source : `${source}/`, globalThis.location?.href ?? "file:///").href : null;
  const tracker = progressTracker(onProgress, name, folder);
  // Node has no Cache API: files are read from the disk or the network each time.
  const caching = cache && !userFetch && !IN_NODE ? cachingFetch({ mode: cache === "revalidate" ? "revalidate" : "default", signal, expected, onWarning: (warning) => onProgress?.({ warning }) }) : null;
  let via = caching?.fetch ?? checkedFetch(userFetch ?? ((url) => plainFetch(url, { signal })), expected);
  if (signal) {
    // A cancelled load stops at its next request or body chunk: the wasm
    // side then fails and drops everything it had allocated.
    const base = via;
    via = async (url) => {
      if (signal.aborted) throw aborted();
      return base(url);
    };
  }
  via = tracker.wrap(via);
  const opts = { ...rest, onProgress: onProgress && tracker.raw, fetch: via };
  let inner;
  try {
    inner = await kind.load(source, opts);
    if (signal?.aborted) {
      inner.dispose();
      inner.free();
      throw aborted();
    }
  } catch (e) {
    await caching?.finish(false);
    if (signal?.aborted) throw aborted();
    if (retry && caching?.corrupt.length) {
      onProgress?.({ warning: `webfm: ${caching.corrupt.join(", ")} changed in the cache; downloading again` });
      return load(kind, given, options, false);
    }
    throw expected.failures[0] ?? e;
  }
  await caching?.finish(true);
  tracker.ready();
  return { inner, cache: caching?.report ?? [] };
}

const isLost = (e) => e?.name === "DeviceLost";

/**
 * What both model classes share: the wasm object, its cache report,
 * fine-tuning, disposal, and recovery from a lost GPU device: the model
 * reloads itself (from the Cache API, so nothing is downloaded again) on a
 * new device, or on the CPU path when it was loaded with `device: "auto"`
 * and no GPU can be had; its adapter comes back with it. The call that was
 * running fails with a `DeviceLost` error; the next one waits for the
 * reload and runs on the new device.
 */
class Loaded {
  #m;
  #cache;
  #reload;
  #onDeviceLost;
  #recovery = null;
  /** The adapter in use, as `loadAdapter`'s `[source, options]`, to put back after a reload. */
  #adapter = null;
  /** Why the last reload failed; later calls throw it. */
  #broken = null;
  #events = [];

  constructor(inner, cache, reload, onDeviceLost) {
    this.#m = inner;
    this.#cache = cache;
    this.#reload = reload;
    this.#onDeviceLost = onDeviceLost;
    this.#watch(inner);
  }

  #watch(inner) {
    inner.onDeviceLost?.((reason) => this.#recover(reason, inner));
  }

  /**
   * Reloads once per loss of `old`'s device: concurrent failures share the
   * one reload, and news of a device already replaced is ignored.
   */
  #recover(reason, old) {
    if (this.#recovery || !this.#m || old !== this.#m) return this.#recovery;
    const from = old.info().device;
    this.#recovery = (async () => {
      const event = { reason, from, to: null, recovered: false, error: null };
      try {
        const { inner, cache } = await this.#reload();
        if (this.#m !== old) {
          // Disposed while reloading: drop the new one too.
          inner.dispose();
          inner.free();
          return;
        }
        if (this.#adapter) await inner.loadAdapter(...this.#adapter);
        this.#m = inner;
        this.#cache = cache;
        this.#broken = null;
        this.#watch(inner);
        event.to = inner.info().device;
        event.recovered = true;
        old.dispose();
        old.free();
      } catch (e) {
        // The lost model stays (tokenize still works); the rest throws this.
        this.#broken = new Error(`webfm: the GPU device was lost (${reason}) and the model could not be reloaded: ${e?.message ?? e}`);
        this.#broken.name = "DeviceLost";
        event.error = this.#broken.message;
      } finally {
        this.#recovery = null;
      }
      this.#events.push(event);
      try {
        this.#onDeviceLost?.(event);
      } catch (e) {
        console.error(e);
      }
    })();
    return this.#recovery;
  }

  /** The wasm object; throws once disposed. */
  _live() {
    if (!this.#m) throw new Error("webfm: this model was disposed");
    if (this.#broken) throw this.#broken;
    return this.#m;
  }

  /** The wasm object once a reload in progress has finished. */
  async _ready() {
    await this.#recovery;
    return this._live();
  }

  /** Runs `f(inner)` on the current device; a `DeviceLost` failure starts the reload and is passed on. */
  async _call(f) {
    const m = await this._ready();
    try {
      return await f(m);
    } catch (e) {
      if (isLost(e)) this.#recover(e.message, m);
      throw e;
    }
  }

  /**
   * A stream from `open(inner)`: opened now when no reload is running (so
   * bad options throw here), else once it is done. A `DeviceLost` failure
   * starts the reload.
   */
  _stream(open) {
    let m = this.#recovery ? null : this._live();
    const lost = (e) => {
      if (isLost(e)) this.#recover(e.message, m);
      throw e;
    };
    let s = m ? open(m) : null;
    const got = s ? Promise.resolve(s) : this._ready().then((ready) => (s = open((m = ready))));
    return {
      next: () => got.then((it) => it.next()).catch(lost),
      return: () => got.then((it) => it.return()).catch(lost),
      /** As the wasm stream's `stats()`; null until it has opened. */
      stats: () => s?.stats() ?? null,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** Trains an adapter (see docs/API.md); the model uses it from then on. */
  async finetune(examples, options = {}) {
    const adapter = await this._call((m) => m.finetune(examples, options));
    this.#adapter = [adapter.toSafetensors(), undefined];
    return adapter;
  }
  async loadAdapter(source, options = {}) {
    const r = await this._call((m) => m.loadAdapter(source, options));
    this.#adapter = [source, options];
    return r;
  }
  unloadAdapter() {
    this._live().unloadAdapter();
    this.#adapter = null;
  }
  /** As the wasm `info()`, with the cache report and `deviceLost`: every loss so far and what came of it. */
  info() {
    if (!this.#m) throw new Error("webfm: this model was disposed");
    return { ...this.#m.info(), cache: this.#cache, deviceLost: this.#events.slice() };
  }
  /** Test hook: destroys the GPU device as a driver reset would (the reload starts at once). */
  _loseDevice() {
    const m = this._live();
    m._loseDevice();
    this.#recover("destroyed by the test hook", m);
  }
  /** Frees the model's GPU memory and wasm objects now; later calls throw. */
  dispose() {
    if (!this.#m) return;
    const m = this.#m;
    this.#m = null;
    m.dispose();
    m.free();
  }
}

/** `kind.load` with `options`, and the same again for a reload after a lost device. */
async function loaded(Class, kind, source, options = {}) {
  const { inner, cache } = await load(kind, source, options);
  const { signal, onProgress, ...again } = options ?? {};
  return new Class(inner, cache, () => load(kind, source, again), options?.onDeviceLost);
}

/** An encoder (BERT, MiniLM, DistilBERT): embeddings, classification, zero-shot, similarity. */
export class Model extends Loaded {
  static load(source, options) {
    return loaded(Model, wasm.Model, source, options);
  }
  embed(texts, options = {}) {
    return this._call((m) => m.embed(texts, options));
  }
  classify(texts, options = {}) {
    return this._call((m) => m.classify(texts, options));
  }
  zeroShot(text, labels, options = {}) {
    return this._call((m) => m.zeroShot(text, labels, options));
  }
  similarity(a, b) {
    return this._call((m) => m.similarity(a, b));
  }
  tokenize(text, options = {}) {
    return this._live().tokenize(text, options);
  }
}

/** A decoder (Llama, SmolLM2, Qwen2, Mistral, GPT-2): streamed generation, chat templates, logits. */
export class TextModel extends Loaded {
  static load(source, options) {
    return loaded(TextModel, wasm.TextModel, source, options);
  }
  generate(prompt, options = {}) {
    return this._stream((m) => m.generate(prompt, options));
  }
  logits(prompt, options = {}) {
    return this._call((m) => m.logits(prompt, options));
  }
  applyChatTemplate(messages, options) {
    return this._live().applyChatTemplate(messages, options);
  }
  tokenize(text) {
    return this._live().tokenize(text);
  }
  #chat = null;
  /** An OpenAI-style chat API: `model.chat.completions.create({ messages, stream, response_format, tools, ... })` (docs/API.md). */
  get chat() {
    return (this.#chat ??= chatApi(this));
  }
}
