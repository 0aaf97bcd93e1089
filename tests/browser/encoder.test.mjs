// The encoder API of the built package (Model.load, embed, classify,
// zeroShot, similarity, loadWeights) in headless Chromium, on WebGPU
// (SwiftShader) and on the CPU path, against the PyTorch golden files:
//   all-MiniLM-L6-v2 (.cache/models/minilm, served at /models/minilm/):
//     cosine >= 0.99999 and max abs difference <= 1e-4 per embedding;
//   the tiny BERT / DistilBERT classifiers (tests/models/): softmax scores
//     within 1e-4 of PyTorch's;
// bad input (a missing folder, a truncated weights file, classify without a
// head) as readable errors; and the streaming load of the converted SmolLM2
// (.cache/models/smollm2): peak wasm memory recorded, far below the file size.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { openTestPage } from "./chromium.mjs";
import { golden, log, maxAbs, MINUTE, ROOT, useTestPage } from "./common.mjs";

const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

describe("encoders in Chromium", { timeout: 40 * MINUTE }, () => {
  const ctx = useTestPage();

  for (const device of ["webgpu", "cpu"]) {
    test(`MiniLM f32 embeddings on ${device} match sentence-transformers`, { timeout: 15 * MINUTE }, async () => {
      const cases = golden("minilm_embeddings.json").cases;
      const texts = cases.map((c) => c.text);
      const t0 = Date.now();
      const r = await ctx.page.evaluate(async ({ device, texts }) => {
        const { Model } = window.webfm;
        const progress = [];
        const m = await Model.load("/models/minilm/", { device, onProgress: (p) => progress.push(p) });
        try {
          const info = m.info();
          const t1 = performance.now();
          // All in one call (embed batches them by length and keeps their order),
          // then three short ones as one padded batch.
          const one = (await m.embed(texts)).map((e) => Array.from(e));
          const batch = (await m.embed(texts.slice(0, 3))).map((e) => Array.from(e));
          const ids = texts.map((t) => m.tokenize(t, {}).ids);
          return { info, one, batch, ids, ms: performance.now() - t1, progress: progress.slice(-1)[0], events: progress.length };
        } finally {
          m.dispose();
        }
      }, { device, texts });
      log(`MiniLM on ${device}: ${r.info.device}; load ${Math.round(r.info.load.millis)} ms, ${texts.length} texts in ${Math.round(r.ms)} ms (test ${Date.now() - t0} ms)`);
      assert.equal(r.info.deviceKind, device);
      assert.equal(r.info.pooling, "mean");
      assert.equal(r.info.maxTokens, 256);
      assert.ok(r.events > 2 && r.progress.loaded === r.progress.total, `progress: ${JSON.stringify(r.progress)} after ${r.events} events`);
      let worst = 1;
      cases.forEach((c, i) => {
        assert.deepEqual(r.ids[i], c.ids, `${JSON.stringify(c.text)}: ids`);
        const cos = cosine(r.one[i], c.embedding);
        const d = maxAbs(r.one[i], c.embedding);
        worst = Math.min(worst, cos);
        assert.ok(cos >= 0.99999 && d <= 1e-4, `${JSON.stringify(c.text.slice(0, 40))} on ${device}: cosine ${cos}, max abs ${d}`);
      });
      r.batch.forEach((e, i) => assert.ok(maxAbs(e, r.one[i]) <= 1e-5, `text ${i} embedded in another batch differs`));
      log(`MiniLM on ${device}: worst cosine ${worst}`);
    });

    test(`tiny classifiers on ${device} match PyTorch's scores`, { timeout: 5 * MINUTE }, async () => {
      const g = golden("tiny_cls.json").models;
      for (const [name, m] of Object.entries(g)) {
        const cases = m.cases.filter((c) => c.text_pair === undefined);
        const got = await ctx.page.evaluate(async ({ device, name, texts }) => {
          const model = await window.webfm.Model.load(`/tests/models/${name}/`, { device });
          try {
            return await model.classify(texts, {});
          } finally {
            model.dispose();
          }
        }, { device, name, texts: cases.map((c) => c.text) });
        cases.forEach((c, i) => {
          const labels = Object.values(m.id2label);
          assert.equal(got[i][0].label, c.label, `${name} ${JSON.stringify(c.text.slice(0, 30))}: top label`);
          for (const { label, score } of got[i]) {
            const want = c.scores[labels.indexOf(label)];
            assert.ok(Math.abs(score - want) <= 1e-4, `${name} ${JSON.stringify(c.text.slice(0, 30))} ${label}: ${score} vs ${want}`);
          }
        });
      }
    });
  }

  test("zero-shot, similarity and bad input give answers or readable errors", { timeout: 10 * MINUTE }, async () => {
    const safetensors = readFileSync(join(ROOT, "tests", "models", "tiny-bert-cls", "model.safetensors"));
    const r = await ctx.page.evaluate(async ({ truncated }) => {
      const { Model } = window.webfm;
      const err = async (f) => {
        try {
          await f();
          return "no error";
        } catch (e) {
          return `${e instanceof Error ? "Error" : typeof e}: ${e.message ?? e}`;
        }
      };
      const m = await Model.load("/models/minilm/", { device: "webgpu" });
      const zs = await m.zeroShot("The stock market fell sharply today", ["finance", "sports", "cooking"], {});
      const sim = [await m.similarity("A man is playing a guitar.", "Someone plays an instrument."),
                   await m.similarity("A man is playing a guitar.", "The invoice is overdue.")];
      const noHead = await err(() => m.classify("hello", {}));
      const noTrunc = await err(() => m.embed("word ".repeat(400), { truncate: false }));
      m.dispose();
      const afterDispose = await err(() => m.embed("hello"));
      const missing = await err(() => Model.load("/models/no-such-model/", { device: "cpu" }));
      const cut = await err(() => Model.load({
        config: "/tests/models/tiny-bert-cls/config.json",
        tokenizer: "/tests/models/tiny-bert-cls/tokenizer.json",
        weights: new Uint8Array(truncated),
      }, { device: "cpu" }));
      const badDevice = await err(() => Model.load("/models/minilm/", { device: "tpu" }));
      return { zs, sim, noHead, noTrunc, afterDispose, missing, cut, badDevice };
    }, { truncated: Array.from(safetensors.subarray(0, safetensors.length - 1000)) });
    log("zero-shot:", JSON.stringify(r.zs), "similarity:", r.sim);
    assert.equal(r.zs[0].label, "finance");
    assert.ok(r.sim[0] > r.sim[1] + 0.2, `similar pair ${r.sim[0]} vs unrelated ${r.sim[1]}`);
    assert.match(r.noHead, /^Error: .*no classification head/);
    assert.match(r.noTrunc, /^Error: .*more than the 256/);
    assert.match(r.afterDispose, /^Error: .*(lost|disposed)/);
    assert.match(r.missing, /^Error: .*config\.json/);
    assert.match(r.cut, /^Error: .*truncated/);
    assert.match(r.badDevice, /^Error: .*unknown device/);
  });

  test("the converted SmolLM2 streams onto the GPU without holding the file in wasm memory", { timeout: 10 * MINUTE }, async () => {
    const file = statSync(join(ROOT, ".cache", "models", "smollm2", "model.safetensors")).size;
    // A fresh page: wasm memory only grows, so earlier tests' models would count.
    const fresh = await openTestPage(ctx.browser, ctx.server, { page: await ctx.browser.newPage() });
    const r = await fresh.evaluate(async () => ({ s: await window.webfm.loadWeights("/models/smollm2/", { device: "webgpu" }) }));
    await fresh.close();
    const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    log(`SmolLM2 streaming load: file ${mib(file)}, ${r.s.tensors} tensors, ${mib(r.s.gpuBytes)} on the GPU, ` +
      `peak buffered ${mib(r.s.peakBufferedBytes)}, wasm memory after ${mib(r.s.wasmMemoryBytes)}, ${Math.round(r.s.millis)} ms`);
    assert.ok(r.s.bytes <= file && r.s.bytes > file * 0.95, `${r.s.bytes} bytes of weights in a ${file}-byte file`);
    assert.ok(r.s.tensors > 600, `${r.s.tensors} tensors`);
    assert.ok(r.s.gpuBytes >= r.s.bytes * 0.9, `only ${r.s.gpuBytes} bytes on the GPU`);
    // The largest tensor (the 8-bit embedding codes, 27 MiB) bounds what is held at once.
    assert.ok(r.s.peakBufferedBytes < 32 * 2 ** 20, `held ${mib(r.s.peakBufferedBytes)} at once`);
    assert.ok(r.s.wasmMemoryBytes < file / 2, `wasm memory grew to ${mib(r.s.wasmMemoryBytes)} for a ${mib(r.s.bytes)} file`);
  });
});
