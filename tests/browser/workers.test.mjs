// Workers under stress (issue 21, item 5), in headless Chromium: a tiny Qwen2
// generating and a tiny BERT embedding and classifying at once, on the main
// thread and in two Workers (the CPU path, and WebGPU with a device per
// Worker); a Worker terminated in the middle of a load (SmolLM2's weights part
// downloaded, into the Cache API) and in the middle of a generation, while a
// model on the main thread and one in another Worker keep working. Every
// result is compared with an undisturbed run made first: the same token ids
// and text, the same embeddings and scores to the bit; the undisturbed runs
// themselves match PyTorch (tests/golden/).
//
// Runs of each model repeat until the disruption is over and twice after it,
// and the test checks that some of them ran while the other model was busy or
// the Worker was being killed, so "at once" is what was tested.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { golden, log, MINUTE, ROOT, useTestPage } from "./common.mjs";

const DEC = golden("tiny_decoders.json").models["tiny-qwen2"].cases[0];
const CLS = golden("tiny_cls.json").models["tiny-bert-cls"];
const TEXTS = CLS.cases.filter((c) => c.text_pair === undefined).slice(0, 3).map((c) => c.text);
const CHAT = golden("smollm2_generate.json").cases.find((c) => c.chat);
/** Tokens per tiny Qwen2 run (its context is 128 positions, the prompt 8); fewer on SwiftShader, where each is a GPU round trip. */
const TOKENS = { cpu: 96, webgpu: 24 };
/** Score tolerance against PyTorch (float32, another implementation). */
const SCORE_TOL = 1e-4;

/** Checks an undisturbed run against PyTorch: the first 16 greedy ids, each text's scores. */
function assertMatchesPyTorch(ref, where, tokens) {
  assert.deepEqual(ref.gen.ids.slice(0, DEC.greedy_ids.length), DEC.greedy_ids, `${where}: greedy ids differ from PyTorch's`);
  assert.equal(ref.gen.ids.length, tokens);
  const labels = Object.values(CLS.id2label);
  TEXTS.forEach((text, i) => {
    const c = CLS.cases.find((c) => c.text === text);
    assert.equal(ref.enc.labels[i][0].label, c.label, `${where}: top label of ${JSON.stringify(text)}`);
    for (const { label, score } of ref.enc.labels[i]) {
      const d = Math.abs(score - c.scores[labels.indexOf(label)]);
      assert.ok(d <= SCORE_TOL, `${where}: ${JSON.stringify(text)} ${label}: ${score} is ${d} from PyTorch's`);
    }
  });
}

/** Every run in `gens` and `encs` gave exactly what the undisturbed run `ref` gave. */
function assertSame(ref, { gens = [], encs = [] }, what) {
  gens.forEach((g, i) => {
    assert.deepEqual(g.ids, ref.gen.ids, `${what}: generation ${i + 1} of ${gens.length}: token ids`);
    assert.equal(g.text, ref.gen.text, `${what}: generation ${i + 1} of ${gens.length}: text`);
  });
  encs.forEach((e, i) => {
    assert.deepEqual(e.embeddings, ref.enc.embeddings, `${what}: encode ${i + 1} of ${encs.length}: embeddings`);
    assert.deepEqual(e.labels, ref.enc.labels, `${what}: encode ${i + 1} of ${encs.length}: labels`);
  });
}

describe("Workers under stress", { timeout: 6 * MINUTE }, () => {
  const ctx = useTestPage();
  const ref = {}; // device -> the undisturbed run, on the main thread, one model after the other
  // Each page function imports the package and its helpers from workers-page.js.

  for (const device of ["cpu", "webgpu"]) {
    test(`undisturbed (${device}): tiny Qwen2's ${TOKENS[device]} greedy tokens and tiny BERT's embeddings and scores on the main thread match PyTorch`, { timeout: MINUTE }, async () => {
      ref[device] = await ctx.page.evaluate(async ({ device, prompt, texts, tokens }) => {
        const h = await import("/tests/browser/workers-page.js");
        const lm = await h.TextModel.load(h.QWEN, { device, cache: false });
        const gen = await h.generate(lm, prompt, tokens);
        lm.dispose();
        const enc = await h.Model.load(h.BERT, { device, cache: false });
        const out = await h.encode(enc, texts);
        enc.dispose();
        return { gen: { ids: gen.ids, text: gen.text }, enc: out };
      }, { device, prompt: DEC.prompt, texts: TEXTS, tokens: TOKENS[device] });
      assertMatchesPyTorch(ref[device], `main thread, ${device}`, TOKENS[device]);
    });
  }

  /** Loads the tiny Qwen2 and the tiny BERT at once, on the main thread or each in a Worker, and runs them at once (encodes until the generation ends); what each gave. */
  const together = (where, device) => ctx.page.evaluate(async ({ where, device, prompt, texts, tokens }) => {
    const h = await import("/tests/browser/workers-page.js");
    const [G, E] = where === "main" ? [h.TextModel, h.Model] : [h.WorkerTextModel, h.WorkerModel];
    const [lm, enc] = await Promise.all([G.load(h.QWEN, { device, cache: false }), E.load(h.BERT, { device, cache: false })]);
    try {
      const gen = h.generate(lm, prompt, tokens);
      const encs = await h.busyUntil(gen, () => h.encode(enc, texts));
      const g = await gen;
      // Encodes that ended while tokens were streaming.
      const during = encs.filter((e) => e.at > g.first && e.at < g.last).length;
      return { gens: [g], encs, during };
    } finally {
      lm.dispose();
      enc.dispose();
    }
  }, { where, device, prompt: DEC.prompt, texts: TEXTS, tokens: TOKENS[device] });

  test("two models at once in one page (CPU path): generating while embedding and classifying gives the undisturbed results", { timeout: MINUTE }, async () => {
    const r = await together("main", "cpu");
    log(`main thread: ${r.encs.length} encodes, ${r.during} of them while the ${TOKENS.cpu} tokens streamed`);
    assertSame(ref.cpu, r, "main thread");
    assert.ok(r.during > 0, "no encode ended while the tokens streamed: the two did not run at once");
  });

  for (const device of ["cpu", "webgpu"]) {
    test(`two models at once in two Workers (${device}): the same results as undisturbed on the main thread`, { timeout: 2 * MINUTE }, async () => {
      const r = await together("worker", device);
      log(`two Workers on ${device}: ${r.encs.length} encodes, ${r.during} of them while the ${TOKENS[device]} tokens streamed`);
      assertSame(ref[device], r, `Workers on ${device}`);
      assert.ok(r.during > 0, "no encode ended while the tokens streamed: the two Workers did not run at once");
    });
  }

  test("a Worker terminated in the middle of a load (SmolLM2's weights part downloaded, into the cache) leaves the main thread's model and another Worker's unaffected; SmolLM2 then loads and generates as PyTorch", { timeout: 2 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async ({ prompt, texts, tokens, messages }) => {
      const h = await import("/tests/browser/workers-page.js");
      await h.clearCache();
      const enc = await h.Model.load(h.BERT, { device: "cpu", cache: false });
      const lm = await h.WorkerTextModel.load(h.QWEN, { device: "cpu", cache: false });
      try {
        const ctrl = new AbortController();
        let cut = null;
        const load = h.WorkerTextModel.load(h.SMOLLM2, {
          device: "cpu",
          signal: ctrl.signal,
          onProgress: (p) => {
            if (!cut && p.file === "model.safetensors" && p.loaded > 0 && p.loaded < p.total) {
              cut = { ...p, at: performance.now() };
              ctrl.abort(); // terminates the Worker, there and then
            }
          },
        });
        const failed = load.then(() => null, (e) => ({ name: e.name, message: e.message }));
        const [gens, encs, error] = await Promise.all([h.busyUntil(failed, () => h.generate(lm, prompt, tokens)), h.busyUntil(failed, () => h.encode(enc, texts)), failed]);
        // What the killed load left in the cache: nothing, or whole files.
        const cache = await caches.open(h.CACHE_NAME);
        const kept = await Promise.all((await cache.keys()).map(async (req) => ({ url: new URL(req.url).pathname, bytes: (await (await cache.match(req)).arrayBuffer()).byteLength })));
        // A new Worker loads SmolLM2 (through the cache) and answers as PyTorch does.
        const smol = await h.WorkerTextModel.load(h.SMOLLM2, { device: "cpu" });
        const answer = await h.generate(smol, messages, 8);
        smol.dispose();
        const count = (runs) => ({ before: runs.filter((x) => x.at < cut.at).length, after: runs.filter((x) => x.at > cut.at).length });
        return { cut, error, gens, encs, kept, answer: answer.ids, counts: { gen: count(gens), enc: count(encs) } };
      } finally {
        enc.dispose();
        lm.dispose();
      }
    }, { prompt: DEC.prompt, texts: TEXTS, tokens: TOKENS.cpu, messages: CHAT.messages });
    log(`load killed at ${r.cut?.loaded} of ${r.cut?.total} bytes: ${r.error?.name}: ${r.error?.message}`);
    log(`meanwhile and after: ${JSON.stringify(r.counts)}; left in the cache: ${JSON.stringify(r.kept)}`);
    assert.ok(r.cut, "the load never reported the weights' download under way");
    assert.deepEqual(r.error, { name: "AbortError", message: "webfm: loading was cancelled" });
    assertSame(ref.cpu, r, "with a load killed in another Worker");
    for (const k of ["gen", "enc"]) assert.ok(r.counts[k].after >= 2, `${k}: no run after the kill ${JSON.stringify(r.counts)}`);
    // The killed Worker could not delete what it had cached, but a file is there whole or not at all.
    for (const f of r.kept) {
      const size = statSync(join(ROOT, ".cache", f.url)).size;
      assert.equal(f.bytes, size, `${f.url}: ${f.bytes} of its ${size} bytes stayed in the cache`);
    }
    assert.deepEqual(r.answer, CHAT.greedy_ids.slice(0, 8), "SmolLM2 loaded after the kill: greedy ids differ from PyTorch's");
  });

  test("a Worker terminated in the middle of a generation leaves the main thread's model and another Worker's unaffected; a new Worker generates as before", { timeout: 2 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async ({ prompt, texts, tokens, messages }) => {
      const h = await import("/tests/browser/workers-page.js");
      const enc = await h.Model.load(h.BERT, { device: "cpu", cache: false });
      const lm = await h.WorkerTextModel.load(h.QWEN, { device: "cpu", cache: false });
      const smol = await h.WorkerTextModel.load(h.SMOLLM2, { device: "cpu" });
      try {
        let killedAt = null, pieces = 0;
        const killed = h.generate(smol, messages, 200, (n) => {
          pieces = n;
          if (n === 3) {
            killedAt = performance.now();
            smol.dispose(); // terminates its Worker mid-generation
          }
        }).then(() => null, (e) => ({ name: e.name, message: e.message }));
        const [gens, encs, error] = await Promise.all([h.busyUntil(killed, () => h.generate(lm, prompt, tokens)), h.busyUntil(killed, () => h.encode(enc, texts)), killed]);
        const late = await smol.tokenize("hello").then(() => "resolved", (e) => e.message);
        const fresh = await h.WorkerTextModel.load(h.QWEN, { device: "cpu", cache: false });
        const again = await h.generate(fresh, prompt, tokens);
        fresh.dispose();
        const count = (runs) => ({ before: runs.filter((x) => x.at < killedAt).length, after: runs.filter((x) => x.at > killedAt).length });
        return { error, pieces, late, gens: [...gens, again], encs, counts: { gen: count(gens), enc: count(encs) } };
      } finally {
        enc.dispose();
        lm.dispose();
      }
    }, { prompt: DEC.prompt, texts: TEXTS, tokens: TOKENS.cpu, messages: CHAT.messages });
    log(`generation killed after ${r.pieces} pieces: ${r.error?.message}; meanwhile and after: ${JSON.stringify(r.counts)}`);
    assert.deepEqual(r.error, { name: "Error", message: "webfm: this model was disposed" });
    assert.ok(r.pieces >= 3 && r.pieces < 200, `${r.pieces} pieces`);
    assert.equal(r.late, "webfm: this model was disposed", "a call on the terminated Worker");
    assertSame(ref.cpu, r, "with a generation killed in another Worker");
    for (const k of ["gen", "enc"]) assert.ok(r.counts[k].after >= 2, `${k}: no run after the kill ${JSON.stringify(r.counts)}`);
  });
});
