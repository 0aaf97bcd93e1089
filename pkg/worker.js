// webfm/worker: the same models run in a dedicated Worker, so the page's
// main thread only posts messages and receives results. One Worker per model;
// `dispose()` terminates it (and with it the model's GPU device).
//
//   import { WorkerTextModel } from "webfm/worker";
//   const m = await WorkerTextModel.load("/models/smollm2/", { onProgress });
//   for await (const piece of m.generate("Once upon a time", { signal })) out.textContent += piece;
//
// Functions in options (onProgress, onToken) and AbortSignals are proxied
// across the boundary; results holding typed arrays arrive transferred.

import { checkOptions } from "./options.js";
import { env, isModelId } from "./hub.js";
import { chatApi } from "./chat.js";

/** `WorkerLoadOptions` (worker.d.ts): `LoadOptions` without `fetch`, with `signal`. */
const LOAD_OPTIONS = ["device", "bits", "group", "onProgress", "cache", "signal", "onDeviceLost", "integrity", "revision"];

/** URLs are resolved against the page here: inside the Worker, relative URLs would resolve against the package. */
function absolute(v) {
  if (typeof v === "string") return new URL(v, globalThis.location?.href).href;
  if (v instanceof URL) return v.href;
  if (Array.isArray(v)) return v.map(absolute);
  return v;
}

async function transferable(source) {
  if (isModelId(source)) return source; // resolved in the Worker, with the page's env
  if (typeof source === "string" || source instanceof URL) return absolute(source);
  if (source && typeof source === "object") {
    const out = {};
    for (const [k, v] of Object.entries(source)) {
      // Responses cannot cross to a Worker: send their bytes.
      if (typeof Response !== "undefined" && v instanceof Response) out[k] = await v.arrayBuffer();
      else if (Array.isArray(v)) out[k] = await Promise.all(v.map((x) => (x instanceof Response ? x.arrayBuffer() : absolute(x))));
      else out[k] = absolute(v);
    }
    return out;
  }
  return source;
}

class Channel {
  #worker;
  #next = 1;
  #pending = new Map(); // id -> { resolve, reject, onMessage }
  #dead = null;
  /** `(message) => void` for messages that answer no request (a lost device). */
  onEvent = null;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      if (data.event) return this.onEvent?.(data);
      const p = this.#pending.get(data.id);
      if (!p) return;
      if ("value" in data) {
        this.#pending.delete(data.id);
        p.resolve(data.value);
      } else if (data.error) {
        this.#pending.delete(data.id);
        const e = new Error(data.error.message);
        if (data.error.name && data.error.name !== "Error") e.name = data.error.name;
        p.reject(e);
      } else p.onMessage?.(data);
    };
    const fail = (why) => {
      this.#dead = new Error(`webfm worker stopped: ${why}`);
      for (const p of this.#pending.values()) p.reject(this.#dead);
      this.#pending.clear();
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      fail(e.message || "it failed to start (is worker-main.js served next to worker.js?)");
    };
    worker.onmessageerror = () => fail("a message could not be read");
  }

  /** Sends a request; `onMessage` sees its progress/stream messages. Resolves to `{id, done}`. */
  request(op, args, onMessage) {
    if (this.#dead) return { id: 0, done: Promise.reject(this.#dead) };
    const id = this.#next++;
    const done = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, onMessage }));
    this.#worker.postMessage({ id, op, args });
    return { id, done };
  }

  call(op, ...args) {
    return this.request(op, args).done;
  }

  cancel(target) {
    if (!this.#dead) this.#worker.postMessage({ op: "cancel", target });
  }

  terminate(why = new Error("webfm: this model was disposed")) {
    this.#worker.terminate();
    this.#dead ??= why;
    for (const p of this.#pending.values()) p.reject(this.#dead);
    this.#pending.clear();
  }
}

function startWorker() {
  return new Worker(new URL("./worker-main.js", import.meta.url), { type: "module", name: "webfm" });
}

async function loadIn(kind, source, options = {}) {
  if (typeof options?.fetch === "function") throw new Error("webfm worker: options.fetch cannot cross to a Worker; pass URLs or bytes");
  checkOptions("load options", options, LOAD_OPTIONS);
  const { onProgress, signal, onDeviceLost, ...rest } = options ?? {};
  const ch = new Channel(startWorker());
  // Ids resolve in the Worker, with the page's `env` settings.
  const pageEnv = { ...env, localModelPath: absolute(env.localModelPath), remoteHost: absolute(env.remoteHost) };
  const { done } = ch.request("load", [kind, await transferable(source), rest, pageEnv], (m) => m.progress && onProgress?.(m.progress));
  const abort = () => ch.terminate(new DOMException("webfm: loading was cancelled", "AbortError"));
  if (signal?.aborted) abort();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    return [ch, await done, onDeviceLost];
  } catch (e) {
    ch.terminate();
    throw e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/** Fine-tuning in the Worker: `onStep` and `signal` proxied; the adapter comes back as its bytes. */
async function finetuneIn(ch, examples, options = {}) {
  const { onStep, signal, ...rest } = options;
  const { id, done } = ch.request("finetune", [examples, rest], (m) => m.step && onStep?.(m.step));
  const cancel = () => ch.cancel(id);
  if (signal?.aborted) cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    const { safetensors, config, report } = await done;
    return { toSafetensors: () => safetensors, configJson: () => config, report };
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

class WorkerBase {
  _ch;
  #info;
  constructor(ch, info, onDeviceLost) {
    this._ch = ch;
    this.#info = info;
    // The model in the Worker reloads itself after a lost device; its new info() comes with the event.
    ch.onEvent = (m) => {
      if (m.event !== "deviceLost") return;
      this.#info = m.info;
      try {
        onDeviceLost?.(m.detail);
      } catch (e) {
        console.error(e);
      }
    };
  }
  /** What the model reported when it loaded, or after its last reload (device, sizes, load timings, cache, deviceLost). */
  info() {
    return this.#info;
  }
  /** Test hook: destroys the Worker's GPU device as a driver reset would. */
  _loseDevice() {
    return this._ch.call("_loseDevice");
  }
  tokenize(...args) {
    return this._ch.call("tokenize", ...args);
  }
  /** As `Model.finetune` / `TextModel.finetune`, in the Worker. */
  finetune(examples, options) {
    return finetuneIn(this._ch, examples, options);
  }
  loadAdapter(source, options) {
    return this._ch.call("loadAdapter", source, options);
  }
  unloadAdapter() {
    return this._ch.call("unloadAdapter");
  }
  /** Terminates the Worker: the model, its GPU device and every pending call end now. */
  dispose() {
    this._ch.terminate();
  }
}

/** `Model` (encoders) in a Worker: the same methods, all returning promises. */
export class WorkerModel extends WorkerBase {
  static async load(source, options) {
    return new WorkerModel(...(await loadIn("encoder", source, options)));
  }
  embed(texts, options = {}) {
    return this._ch.call("embed", texts, options);
  }
  classify(texts, options = {}) {
    return this._ch.call("classify", texts, options);
  }
  zeroShot(text, labels, options = {}) {
    return this._ch.call("zeroShot", text, labels, options);
  }
  similarity(a, b) {
    return this._ch.call("similarity", a, b);
  }
}

/** `TextModel` (decoders) in a Worker: `generate` streams across the boundary. */
export class WorkerTextModel extends WorkerBase {
  static async load(source, options) {
    return new WorkerTextModel(...(await loadIn("text", source, options)));
  }

  /**
   * An async iterator of text pieces, as `TextModel.generate`. `signal`,
   * `break` and `return()` cancel the generation in the Worker at its next
   * token; `stats()` is available once the iteration has ended.
   */
  generate(prompt, options = {}) {
    const { signal, onToken, ...rest } = options;
    const queue = [];
    let wake = null;
    let finished = false;
    let failure = null;
    let stats = null;
    const push = () => {
      wake?.();
      wake = null;
    };
    const { id, done } = this._ch.request("generate", [prompt, { ...rest, onToken: !!onToken }], (m) => {
      if ("piece" in m) queue.push(m.piece);
      if ("token" in m) onToken?.(m.token);
      push();
    });
    done.then(
      (s) => {
        stats = s;
        finished = true;
        push();
      },
      (e) => {
        failure = e;
        finished = true;
        push();
      },
    );
    const cancel = () => this._ch.cancel(id);
    if (signal?.aborted) cancel();
    signal?.addEventListener("abort", cancel, { once: true });
    const iter = {
      async next() {
        for (;;) {
          if (queue.length) return { value: queue.shift(), done: false };
          if (failure) throw failure;
          if (finished) {
            signal?.removeEventListener("abort", cancel);
            return { value: undefined, done: true };
          }
          await new Promise((r) => (wake = r));
        }
      },
      async return() {
        cancel();
        await done.catch(() => {});
        queue.length = 0;
        signal?.removeEventListener("abort", cancel);
        return { value: undefined, done: true };
      },
      /** Prompt and new tokens, finish reason, time to first token, tokens/s (null until the end). */
      stats: () => stats,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return iter;
  }

  logits(prompt, options = {}) {
    return this._ch.call("logits", prompt, options);
  }
  applyChatTemplate(messages, options) {
    return this._ch.call("applyChatTemplate", messages, options);
  }
  #chat = null;
  /** The OpenAI-style chat API, as `TextModel.chat`, generating in the Worker. */
  get chat() {
    return (this.#chat ??= chatApi(this));
  }
}

/** `WorkerModel.load` or `WorkerTextModel.load` by `task`: "embed" / "classify" (default) or "generate". */
export async function createWorkerModel(source, options = {}) {
  checkOptions("createWorkerModel options", options, [...LOAD_OPTIONS, "task"]);
  const { task = "embed", ...rest } = options ?? {};
  return task === "generate" ? WorkerTextModel.load(source, rest) : WorkerModel.load(source, rest);
}
