// Typed options in headless Chromium, with the tiny committed models
// (tests/models/, no download): every options object of the wasm API and of
// the wrapper (pkg/index.js, pkg/worker.js) refuses a misspelt field with an
// error that names the call and the field and lists the valid ones; the list
// is exactly the fields of the options type in pkg/index.d.ts / worker.d.ts
// (so the types cannot drift from what the wasm side accepts); a value of the
// wrong type names its field; and the values serde cannot hold (onProgress,
// fetch, onToken, onStep, signal, evalExamples) still work.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { log, MINUTE, ROOT, useTestPage } from "./common.mjs";

const stripComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
const DTS = stripComments(readFileSync(join(ROOT, "pkg", "index.d.ts"), "utf8"));
const WORKER_DTS = stripComments(readFileSync(join(ROOT, "pkg", "worker.d.ts"), "utf8"));

/** The field names of `export interface name` in a .d.ts, with those of the interface it extends. */
function fieldsOf(name, src = DTS) {
  const head = new RegExp(`export interface ${name}(?:<[^>]*>)?(?: extends ([\\w<>, "]+?))?\\s*\\{`).exec(src);
  assert.ok(head, `no interface ${name} in the .d.ts`);
  let depth = 1;
  let i = head.index + head[0].length;
  const start = i;
  for (; depth > 0 && i < src.length; i++) depth += src[i] === "{" ? 1 : src[i] === "}" ? -1 : 0;
  const body = src.slice(start, i - 1);
  const own = [];
  let d = 0;
  for (const line of body.split("\n")) {
    const m = /^\s*(\w+)\??:/.exec(line);
    if (d === 0 && m) own.push(m[1]);
    for (const c of line) d += c === "{" ? 1 : c === "}" ? -1 : 0;
  }
  const parent = head[1];
  if (!parent) return own;
  const omit = /^Omit<(\w+), (.+)>$/.exec(parent);
  if (omit) {
    const dropped = [...omit[2].matchAll(/"(\w+)"/g)].map((m) => m[1]);
    return [...fieldsOf(omit[1]).filter((f) => !dropped.includes(f)), ...own];
  }
  return [...fieldsOf(parent, DTS.includes(`export interface ${parent}`) ? DTS : src), ...own];
}

/** `what` and the field names listed in an unknown-field error (serde's wording, or the wrapper's copy of it). */
function assertUnknown(message, what, field, expected) {
  assert.ok(message, `${what}: no error for the unknown field \`${field}\``);
  const m = /([\w.]+ (?:options|source)): unknown field `(\w+)`, expected (?:one of )?(.*)$/.exec(message);
  assert.ok(m, `${what}: not an unknown-field error: ${message}`);
  assert.equal(m[1], what, message);
  assert.equal(m[2], field, message);
  const listed = [...m[3].matchAll(/`(\w+)`/g)].map((x) => x[1]);
  assert.deepEqual([...listed].sort(), [...expected].sort(), `${what}: the valid fields listed differ from the .d.ts type's: ${message}`);
}

describe("typed options", { timeout: 10 * MINUTE }, () => {
  const ctx = useTestPage();

  test("the wasm API refuses misspelt options, naming them and listing the valid ones", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const { Model, TextModel, loadWeights } = window.webfm;
      const errors = {};
      const attempt = async (name, f) => {
        try {
          await f();
          errors[name] = null;
        } catch (e) {
          errors[name] = e.message;
        }
      };
      const bert = "/tests/models/tiny-bert-cls/", qwen = "/tests/models/tiny-qwen2/";
      await attempt("load", () => Model.load(bert, { devcie: "cpu" }));
      await attempt("textLoad", () => TextModel.load(qwen, { device: "cpu", cache: false }));
      await attempt("loadWeights", () => loadWeights(bert, { device: "cpu", bitz: 4 }));
      await attempt("loadNotObject", () => Model.load(bert, "cpu"));
      await attempt("loadType", () => Model.load(bert, { device: "cpu", bits: "4" }));
      await attempt("loadCallback", () => Model.load(bert, { device: "cpu", onProgress: "log" }));
      const files = { config: `${bert}config.json`, tokenizer: `${bert}tokenizer.json`, weights: `${bert}model.safetensors` };
      await attempt("source", () => Model.load({ ...files, tokenizer_config: `${bert}tokenizer_config.json` }, { device: "cpu" }));
      await attempt("sourceOk", async () => (await Model.load({ ...files, tokenizerConfig: `${bert}tokenizer_config.json` }, { device: "cpu" })).dispose());
      const m = await Model.load(bert, { device: "cpu" });
      const lm = await TextModel.load(qwen, { device: "cpu" });
      await attempt("embed", () => m.embed("hi", { normalise: true }));
      await attempt("classify", () => m.classify("hi", { top_k: 1 }));
      await attempt("zeroShot", () => m.zeroShot("hi", ["a", "b"], { templat: "{}" }));
      await attempt("tokenize", () => m.tokenize("hi", { max_tokens: 4 }));
      await attempt("finetune", () => m.finetune([{ text: "a", label: "x" }], { learningRate: 0.1 }));
      await attempt("generate", () => lm.generate("hi", { max_new_tokens: 8 }));
      await attempt("generateUndefined", () => lm.generate("hi", { maxNewTokenz: undefined }));
      await attempt("generateWhole", () => lm.generate("hi", { maxNewTokens: 1.5 }));
      await attempt("generateStop", () => lm.generate("hi", { stop: 3 }));
      await attempt("generateNotObject", () => lm.generate("hi", [8]));
      await attempt("logits", () => lm.logits("hi", { every: true }));
      await attempt("textFinetune", () => lm.finetune([{ text: "a" }], { rank: 4, batch_size: 2 }));
      await attempt("loadAdapter", () => lm.loadAdapter(new Uint8Array(0), { merged: false }));
      // A known field left undefined is absent, and the calls still work after all that.
      const it = lm.generate("hi", { maxNewTokens: 2, ignoreEos: true, signal: undefined, onToken: undefined, stop: undefined });
      let pieces = 0;
      for await (const _ of it) pieces++;
      const ok = { generated: it.stats().newTokens, embedded: (await m.embed("hi", {})).length, tokens: m.tokenize("hi", undefined).ids.length };
      m.dispose();
      lm.dispose();
      return { errors, ok };
    });
    const e = r.errors;
    // The wrapper's own (pkg/index.js), which the wasm `load` never sees.
    const load = fieldsOf("LoadOptions").filter((f) => !["cache", "signal", "onDeviceLost", "integrity", "revision"].includes(f));
    assertUnknown(e.load, "load options", "devcie", load);
    assertUnknown(e.textLoad, "load options", "cache", load);
    assertUnknown(e.loadWeights, "load options", "bitz", load);
    assertUnknown(e.embed, "embed options", "normalise", fieldsOf("EmbedOptions"));
    assertUnknown(e.classify, "classify options", "top_k", fieldsOf("ClassifyOptions"));
    assertUnknown(e.zeroShot, "zeroShot options", "templat", fieldsOf("ZeroShotOptions"));
    assertUnknown(e.tokenize, "tokenize options", "max_tokens", fieldsOf("EncodeOptions"));
    assertUnknown(e.finetune, "finetune options", "learningRate", fieldsOf("FinetuneOptions"));
    assertUnknown(e.textFinetune, "finetune options", "batch_size", fieldsOf("FinetuneOptions"));
    assertUnknown(e.generate, "generate options", "max_new_tokens", fieldsOf("GenerateOptions"));
    assertUnknown(e.generateUndefined, "generate options", "maxNewTokenz", fieldsOf("GenerateOptions"));
    assertUnknown(e.logits, "logits options", "every", fieldsOf("LogitsOptions"));
    assertUnknown(e.loadAdapter, "loadAdapter options", "merged", fieldsOf("AdapterOptions"));
    // ModelSource's object form (a type alias in index.d.ts, so listed here).
    assertUnknown(e.source, "model source", "tokenizer_config", ["config", "tokenizer", "weights", "pooling", "sentenceConfig", "modules", "tokenizerConfig"]);
    assert.equal(e.sourceOk, null);
    assert.match(e.loadNotObject, /load options: expected an object, got the string "cpu"/);
    assert.match(e.loadType, /load options: bits: invalid type: string "4"/);
    assert.match(e.loadCallback, /load options: onProgress: expected a function/);
    assert.match(e.generateWhole, /generate options: maxNewTokens: must be a whole number ≥ 0, got 1.5/);
    assert.match(e.generateStop, /generate options: stop: .*expected a string or a list of strings/);
    assert.match(e.generateNotObject, /generate options: expected an object, got an array/);
    assert.deepEqual(r.ok, { generated: 2, embedded: 32, tokens: r.ok.tokens });
    log(`e.g. ${e.generate}`);
  });

  test("callbacks, signals and example lists in options still reach the wasm side", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const { Model, TextModel } = window.webfm;
      const progress = [];
      let fetched = 0;
      const m = await Model.load("/tests/models/tiny-bert-cls/", {
        device: "cpu",
        onProgress: (p) => progress.push(p.loaded),
        fetch: (url) => (fetched++, fetch(url)),
      });
      const examples = ["good", "fine", "bad", "awful"].map((text, i) => ({ text, label: i < 2 ? "pos" : "neg" }));
      const steps = [];
      const ctrl = new AbortController();
      const adapter = await m.finetune(examples, {
        method: "head", epochs: 4, batchSize: 2, evalExamples: examples, signal: ctrl.signal,
        onStep: (s) => (steps.push(s.step), s.step === 3 && ctrl.abort()),
      });
      m.dispose();
      const lm = await TextModel.load("/tests/models/tiny-qwen2/", { device: "cpu" });
      const ids = [];
      const gen = new AbortController();
      const it = lm.generate("hi", { maxNewTokens: 50, ignoreEos: true, signal: gen.signal, onToken: (id) => (ids.push(id), ids.length === 4 && gen.abort()) });
      for await (const _ of it) { /* drain */ }
      const stats = it.stats();
      lm.dispose();
      return { progress: progress.length, fetched, steps, report: adapter.report, ids: ids.length, finish: stats.finish, newTokens: stats.newTokens };
    });
    assert.ok(r.fetched >= 3, `options.fetch was called ${r.fetched} times`);
    assert.ok(r.progress > 0, "onProgress was never called");
    assert.deepEqual(r.steps, [1, 2, 3], "onStep / signal in finetune options");
    assert.equal(r.report.stopped, true);
    assert.equal(typeof r.report.evalAccuracy, "number", "evalExamples were not evaluated");
    assert.equal(r.finish, "cancelled", "the generate signal did not cancel");
    assert.ok(r.ids >= 4 && r.ids <= 6 && r.ids === r.newTokens, `onToken saw ${r.ids} ids, stats ${r.newTokens}`);
  });

  test("the wrapper (pkg/index.js, pkg/worker.js) checks the options it reads the same way", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const { init, Model, TextModel } = await import("/pkg/index.js");
      const { WorkerModel, WorkerTextModel, createWorkerModel } = await import("/pkg/worker.js");
      const errors = {};
      const attempt = async (name, f) => {
        try {
          const v = await f();
          if (v?.[Symbol.asyncIterator]) for await (const _ of v) { /* drain */ }
          errors[name] = null;
        } catch (e) {
          errors[name] = e.message;
        }
      };
      const bert = "/tests/models/tiny-bert-cls/", qwen = "/tests/models/tiny-qwen2/";
      await attempt("init", () => init({ wasmUrl: "/pkg/webfm_bg.wasm" }));
      await attempt("load", () => Model.load(bert, { device: "cpu", cahce: false }));
      await attempt("workerLoad", () => WorkerModel.load(bert, { device: "cpu", onprogress: () => {} }));
      await attempt("createWorker", () => createWorkerModel(bert, { tsk: "generate" }));
      const lm = await TextModel.load(qwen, { device: "cpu", cache: false });
      await attempt("generate", () => lm.generate("hi", { maxTokens: 2 }));
      lm.dispose();
      const w = await WorkerTextModel.load(qwen, { device: "cpu", cache: false });
      await attempt("workerGenerate", () => w.generate("hi", { max_new_tokens: 2 }));
      await attempt("workerFinetune", () => w.finetune([{ text: "a" }], { epoch: 1 }));
      let text = "";
      for await (const piece of w.generate("hi", { maxNewTokens: 2, ignoreEos: true, onToken: () => {} })) text += piece;
      w.dispose();
      return { errors, text };
    });
    const e = r.errors;
    const load = fieldsOf("LoadOptions");
    const workerLoad = fieldsOf("WorkerLoadOptions", WORKER_DTS);
    assertUnknown(e.init, "init options", "wasmUrl", fieldsOf("InitOptions"));
    assertUnknown(e.load, "load options", "cahce", load);
    assertUnknown(e.workerLoad, "load options", "onprogress", workerLoad);
    assertUnknown(e.createWorker, "createWorkerModel options", "tsk", fieldsOf("WorkerCreateOptions", WORKER_DTS));
    assertUnknown(e.generate, "generate options", "maxTokens", fieldsOf("GenerateOptions"));
    assertUnknown(e.workerGenerate, "generate options", "max_new_tokens", fieldsOf("GenerateOptions"));
    assertUnknown(e.workerFinetune, "finetune options", "epoch", fieldsOf("FinetuneOptions"));
    assert.ok(workerLoad.includes("signal") && !workerLoad.includes("fetch"), workerLoad.join());
    assert.match(e.load, /^webfm: /, "the wrapper's own check did not answer");
    assert.ok(r.text.length > 0, "the Worker could not generate after the refused options");
  });
});
