// The inside of a webfm Worker (started by worker.js): one model per Worker,
// driven by messages. Requests are `{id, op, args}`; replies are
// `{id, value}` or `{id, error}`; progress is `{id, progress}`; a generation
// streams `{id, piece}` (and `{id, token}` when asked) and ends with
// `{id, value: stats}`; fine-tuning sends `{id, step}` after each step.
// `{op: "cancel", target}` stops the generation `target` at its next token
// (or the fine-tuning at its next step). Results holding typed arrays are transferred,
// not copied.

import { Model, TextModel, env } from "./index.js";

let model = null;
const cancels = new Map(); // generation id -> AbortController

function post(msg, value) {
  const transfer = [];
  const collect = (v) => {
    if (ArrayBuffer.isView(v)) transfer.push(v.buffer);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === "object") Object.values(v).forEach(collect);
  };
  collect(value);
  self.postMessage(msg, transfer);
}

async function generate(id, [prompt, options]) {
  const ctrl = new AbortController();
  cancels.set(id, ctrl);
  const onToken = options.onToken ? (token) => self.postMessage({ id, token }) : undefined;
  try {
    const stream = model.generate(prompt, { ...options, onToken, signal: ctrl.signal });
    for await (const piece of stream) self.postMessage({ id, piece });
    return stream.stats();
  } finally {
    cancels.delete(id);
  }
}

async function finetune(id, [examples, options]) {
  const ctrl = new AbortController();
  cancels.set(id, ctrl);
  try {
    const adapter = await model.finetune(examples, { ...options, signal: ctrl.signal, onStep: (step) => self.postMessage({ id, step }) });
    return { safetensors: adapter.toSafetensors(), config: adapter.configJson(), report: adapter.report };
  } finally {
    cancels.delete(id);
  }
}

const ops = {
  async load(id, [kind, source, options, pageEnv]) {
    if (model) throw new Error("webfm worker: a model is already loaded");
    Object.assign(env, pageEnv);
    const cls = kind === "text" ? TextModel : Model;
    model = await cls.load(source, {
      ...options,
      onProgress: (progress) => self.postMessage({ id, progress }),
      // The model reloads itself in here; the page hears of it and gets the new info().
      onDeviceLost: (event) => self.postMessage({ event: "deviceLost", detail: event, info: model.info() }),
    });
    return model.info();
  },
  embed: (id, a) => model.embed(...a),
  classify: (id, a) => model.classify(...a),
  zeroShot: (id, a) => model.zeroShot(...a),
  similarity: (id, a) => model.similarity(...a),
  tokenize: (id, a) => model.tokenize(...a),
  info: () => model.info(),
  generate,
  logits: (id, a) => model.logits(...a),
  applyChatTemplate: (id, a) => model.applyChatTemplate(...a),
  finetune,
  loadAdapter: (id, a) => model.loadAdapter(...a),
  unloadAdapter: () => model.unloadAdapter(),
  _loseDevice: () => model._loseDevice(),
  dispose() {
    model?.dispose();
    model = null;
  },
};

self.onmessage = async ({ data: { id, op, args = [], target } }) => {
  if (op === "cancel") {
    cancels.get(target)?.abort();
    return;
  }
  try {
    const fn = ops[op];
    if (!fn) throw new Error(`webfm worker: unknown request ${op}`);
    if (!model && op !== "load" && op !== "dispose") throw new Error("webfm worker: no model loaded");
    const value = await fn(id, args);
    post({ id, value }, value);
  } catch (e) {
    self.postMessage({ id, error: { message: e?.message ?? String(e), name: e?.name } });
  }
};
