// Fine-tuning in headless Chromium through the package (pkg/index.js):
// - MiniLM on the sentiment set (tests/data/sentiment): a head, and head +
//   LoRA, reach >= 85% held-out accuracy on WebGPU (SwiftShader) and on the
//   CPU path, from a zero-shot baseline that scores lower; onStep
//   every step; the adapter round-trips through toSafetensors/loadAdapter;
// - an AbortSignal stops at the next step and keeps the adapter;
// - PEFT's decoder adapter loads and gives PEFT's logits; a decoder LoRA run
//   lowers its loss; bad input is refused with readable errors.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { golden, log, maxAbs, MINUTE, ROOT, useTestPage } from "./common.mjs";

const jsonl = (name) => readFileSync(join(ROOT, "tests", "data", "sentiment", name), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const TRAIN = jsonl("train.jsonl");
const TEST = jsonl("test.jsonl");
const bytes = (p) => Array.from(readFileSync(join(ROOT, p)));

describe("fine-tuning in Chromium", { timeout: 60 * MINUTE }, () => {
  const ctx = useTestPage();

  async function sentiment(device, options) {
    return ctx.page.evaluate(async ({ device, train, test, options }) => {
      const { Model } = await import("/pkg/index.js");
      const m = await Model.load("/models/minilm/", { device });
      try {
        const accuracy = async (f) => {
          let right = 0;
          for (const e of test) right += (await f(e.text)) === e.label ? 1 : 0;
          return right / test.length;
        };
        const zeroShot = await accuracy(async (t) => (await m.zeroShot(t, ["positive", "negative"], { template: "This review is {}." }))[0].label);
        const steps = [];
        const t0 = performance.now();
        const adapter = await m.finetune(train, { ...options, evalExamples: test, onStep: (s) => steps.push(s) });
        const ms = performance.now() - t0;
        const tuned = await accuracy(async (t) => (await m.classify(t))[0].label);
        // The adapter's bytes alone bring the same classifier back.
        const sample = test.slice(0, 4).map((e) => e.text);
        const before = await m.classify(sample);
        const safetensors = adapter.toSafetensors();
        m.unloadAdapter();
        const labels = await m.loadAdapter(safetensors);
        const after = await m.classify(sample);
        return { zeroShot, tuned, report: adapter.report, steps, ms, labels, same: JSON.stringify(before) === JSON.stringify(after), config: JSON.parse(adapter.configJson()), info: m.info().adapter };
      } finally {
        m.dispose();
      }
    }, { device, train: TRAIN, test: TEST, options });
  }

  const runs = [
    ["webgpu", { method: "head", lr: 1e-2, epochs: 8, batchSize: 8, seed: 1 }],
    ["cpu", { method: "head", lr: 1e-2, epochs: 8, batchSize: 8, seed: 1 }],
    ["cpu", { method: "head+lora", lr: 2e-3, epochs: 3, batchSize: 8, seed: 1, rank: 8 }],
    // Two epochs at a higher rate: SwiftShader runs a backward pass at ~1 example/s.
    ["webgpu", { method: "head+lora", lr: 3e-3, epochs: 2, batchSize: 8, seed: 1, rank: 8 }],
  ];
  for (const [device, options] of runs) {
    test(`MiniLM sentiment, ${options.method} on ${device}: >= 85% held-out, above zero-shot`, { timeout: 20 * MINUTE }, async () => {
      const r = await sentiment(device, options);
      const curve = r.report.trainLoss.map((x) => x.toFixed(3)).join(" ");
      log(`${options.method} on ${device}: zero-shot ${(r.zeroShot * 100).toFixed(1)}% -> ${(r.tuned * 100).toFixed(1)}% (report ${(r.report.evalAccuracy * 100).toFixed(1)}%), ${r.report.examplesPerSecond.toFixed(1)} examples/s, ${(r.ms / 1000).toFixed(1)} s, peak GPU ${(r.report.peakGpuBytes / 2 ** 20).toFixed(1)} MiB; loss per step: ${curve}`);
      assert.ok(r.tuned >= 0.85, `held-out accuracy ${r.tuned}`);
      assert.ok(r.tuned > r.zeroShot, `${r.tuned} is no better than zero-shot ${r.zeroShot}`);
      assert.ok(Math.abs(r.report.evalAccuracy - r.tuned) < 1e-6, "the report's accuracy is classify's");
      const steps = Math.ceil(TRAIN.length / options.batchSize) * options.epochs;
      assert.equal(r.steps.length, steps, "onStep once per step");
      assert.deepEqual(r.steps.map((s) => s.step), Array.from({ length: steps }, (_, i) => i + 1));
      for (const s of r.steps) assert.ok(Number.isFinite(s.loss) && s.lr >= 0 && s.examplesPerSecond > 0 && s.epoch >= 1, JSON.stringify(s));
      assert.equal(r.report.stopped, false);
      assert.deepEqual(r.labels, r.report.labels);
      assert.ok(r.same, "classify after loadAdapter(toSafetensors()) differs");
      assert.equal(r.config.peft_type, "LORA");
      assert.equal(r.info.lora, options.method === "head+lora");
      if (options.method === "head+lora") assert.deepEqual(r.config.target_modules, ["query", "value", "q_lin", "v_lin"]);
    });
  }

  test("an AbortSignal stops at the next step and keeps the adapter; the page is not frozen", { timeout: 10 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async ({ train }) => {
      const { Model } = await import("/pkg/index.js");
      const m = await Model.load("/models/minilm/", { device: "cpu" });
      try {
        const ctrl = new AbortController();
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const adapter = await m.finetune(train, { method: "head+lora", epochs: 5, batchSize: 4, onStep: (s) => s.step === 3 && ctrl.abort(), signal: ctrl.signal });
        clearInterval(timer);
        const label = (await m.classify("Absolutely loved it."))[0].label;
        return { report: adapter.report, ticks, label };
      } finally {
        m.dispose();
      }
    }, { train: TRAIN.slice(0, 24) });
    assert.equal(r.report.stopped, true);
    assert.equal(r.report.steps, 3, "stopped right after the step that aborted");
    assert.ok(["positive", "negative"].includes(r.label));
    assert.ok(r.ticks > 0, "no timer ran while training: the page never got a turn");
    log(`abort: stopped after ${r.report.steps} steps; a 10 ms timer ran ${r.ticks} times meanwhile`);
  });

  test("in a Worker: onStep and abort cross the boundary, and the adapter's bytes come back", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async ({ train }) => {
      const { WorkerModel } = await import("/pkg/worker.js");
      const { Model } = await import("/pkg/index.js");
      const w = await WorkerModel.load("/tests/models/tiny-bert-cls/", { device: "cpu", cache: false });
      const m = await Model.load("/tests/models/tiny-bert-cls/", { device: "cpu", cache: false });
      try {
        const ctrl = new AbortController();
        const steps = [];
        const adapter = await w.finetune(train, { method: "head+lora", epochs: 4, batchSize: 4, seed: 3, signal: ctrl.signal, onStep: (s) => (steps.push(s.step), s.step === 2 && ctrl.abort()) });
        const texts = train.slice(0, 3).map((e) => e.text);
        const inWorker = await w.classify(texts);
        await m.loadAdapter(adapter.toSafetensors());
        const here = await m.classify(texts);
        return { steps, report: adapter.report, same: JSON.stringify(inWorker) === JSON.stringify(here), info: (await w.classify("x"))[0].label };
      } finally {
        w.dispose();
        m.dispose();
      }
    }, { train: TRAIN.slice(0, 16) });
    // The abort crosses to the Worker while it may already run step 3: it stops within one step.
    assert.ok(r.steps.length >= 2 && r.steps.length <= 3, `steps ${r.steps}`);
    assert.deepEqual(r.steps, r.steps.map((_, i) => i + 1));
    assert.equal(r.report.stopped, true);
    assert.equal(r.report.steps, r.steps.length);
    assert.ok(r.same, "the Worker's tuned classifier and the same adapter loaded on the page disagree");
    assert.ok(["positive", "negative"].includes(r.info));
  });

  test("decoders: PEFT's adapter gives PEFT's logits; a LoRA run lowers its loss; bad input is refused", { timeout: 10 * MINUTE }, async () => {
    const d = golden("finetune_tiny.json").decoder;
    const b = d.batch;
    const rows = b.lengths.map((n, i) => b.input_ids[i].slice(0, n));
    const r = await ctx.page.evaluate(async ({ rows, config, weights }) => {
      const { TextModel, Model } = await import("/pkg/index.js");
      const out = { errors: {} };
      for (const device of ["webgpu", "cpu"]) {
        const lm = await TextModel.load("/tests/models/tiny-llama3/", { device, cache: false });
        try {
          await lm.loadAdapter({ config, weights: new Uint8Array(weights) });
          out[device] = [];
          for (const ids of rows) out[device].push(...(await lm.logits(new Uint32Array(ids))));
          lm.unloadAdapter();
          out[`${device}Base`] = Array.from(await lm.logits(new Uint32Array(rows[0])));
        } finally {
          lm.dispose();
        }
      }
      const lm = await TextModel.load("/tests/models/tiny-llama3/", { device: "cpu", cache: false });
      const data = [{ prompt: "Q: two plus two? A:", completion: " four" }, { text: "the cat sat on the mat" }];
      const adapter = await lm.finetune(data, { epochs: 6, lr: 1e-2, batchSize: 2, evalExamples: data });
      out.loss = adapter.report.trainLoss;
      out.evalLoss = adapter.report.evalLoss;
      const attempt = async (name, f) => {
        try {
          await f();
          out.errors[name] = null;
        } catch (e) {
          out.errors[name] = e.message;
        }
      };
      await attempt("empty", () => lm.finetune([], {}));
      await attempt("mixed", () => lm.finetune([{ text: "a" }, { text: "b", label: "x" }], {}));
      await attempt("method", () => lm.finetune(data, { method: "head" }));
      await attempt("lr", () => lm.finetune(data, { lr: -1 }));
      lm.dispose();
      const enc = await Model.load("/tests/models/tiny-bert-cls/", { device: "cpu", cache: false });
      await attempt("unseen label", () => enc.finetune([{ text: "a", label: "x" }, { text: "b", label: "y" }], { method: "head", evalExamples: [{ text: "c", label: "z" }] }));
      await attempt("one label", () => enc.finetune([{ text: "a", label: "x" }], { method: "head" }));
      await attempt("other model", () => enc.loadAdapter({ config, weights: new Uint8Array(weights) }));
      await attempt("not an adapter", () => enc.loadAdapter(new Uint8Array([1, 2, 3])));
      await attempt("lora alone", () => enc.finetune([{ text: "a", label: "x" }, { text: "b", label: "y" }], { method: "lora" }));
      enc.dispose();
      return out;
    }, {
      rows,
      config: readFileSync(join(ROOT, "tests/golden/peft/tiny-llama3-lora/adapter_config.json"), "utf8"),
      weights: bytes("tests/golden/peft/tiny-llama3-lora/adapter_model.safetensors"),
    });
    for (const device of ["webgpu", "cpu"]) {
      const diff = maxAbs(r[device], d.logits_last_after.values);
      log(`PEFT's decoder adapter on ${device}: last logits within ${diff.toExponential(2)} of PEFT's`);
      assert.ok(diff <= 1e-4, `${device}: ${diff}`);
      assert.ok(maxAbs(r[`${device}Base`], d.logits_last_after.values.slice(0, 384)) > 1e-2, `${device}: unloadAdapter changed nothing`);
    }
    log(`decoder LoRA in the browser: train loss ${r.loss.map((x) => x.toFixed(3)).join(" ")}, eval ${r.evalLoss.toFixed(3)}; errors ${JSON.stringify(r.errors)}`);
    assert.ok(r.evalLoss < r.loss[0] * 0.8, `loss ${r.loss[0]} -> ${r.evalLoss}`);
    assert.match(r.errors.empty, /empty/);
    assert.match(r.errors.mixed, /label is for classifiers/);
    assert.match(r.errors.method, /"lora"/);
    assert.match(r.errors.lr, /lr/);
    assert.match(r.errors["unseen label"], /"z" was not in the training set/);
    assert.match(r.errors["one label"], /at least 2 labels/);
    assert.match(r.errors["other model"], /classifier/);
    assert.match(r.errors["not an adapter"], /adapter_model\.safetensors/);
    assert.match(r.errors["lora alone"], /"head" or "head\+lora"/);
  });
});
