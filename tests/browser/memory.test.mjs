// Memory in a long-lived page: load, use and dispose a model many times, and
// generate or embed many times in one session, and the page's memory stays
// where it was. Two measures, from `memoryStats()`:
// - heapBytes: what the wasm allocator holds now. After `dispose()` it must
//   come back to the page's baseline, at once, not when the JS GC gets round
//   to the streams the page dropped (it used to wait for the GC: SmolLM2 on
//   the CPU path kept one model per cycle alive, 125 -> 606 MB in 6 cycles).
// - wasmMemoryBytes: the linear memory, which never shrinks. After the
//   second cycle it must stay within MARGIN of where it was: the freed
//   blocks are reused.
// GPU bytes: every cycle's model holds the same bytes on its device.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { log, MINUTE, useTestPage } from "./common.mjs";

/** Linear memory may grow this much past its size after cycle 2 (allocator slack). */
const MARGIN = (bytes) => Math.max(2 << 20, 0.05 * bytes);
/** What may stay allocated after a dispose (the allocator's own small caches). */
const HEAP_SLACK = 256 << 10;

const MB = (b) => (b / 2 ** 20).toFixed(1);

describe("memory across loads and long sessions", { timeout: 30 * MINUTE }, () => {
  const ctx = useTestPage();

  /**
   * `cycles` rounds of load / use / dispose in the page; returns per cycle
   * the heap before load and after dispose, the linear memory, and gpuBytes.
   */
  function cycles({ kind, model, device, cycles, use, tokens = 4, prompt = "Once upon a time" }) {
    return ctx.page.evaluate(
      async ({ kind, model, device, cycles, use, tokens, prompt }) => {
        const w = window.webfm;
        const rows = [];
        const before = w.memoryStats().heapBytes;
        for (let i = 0; i < cycles; i++) {
          const m = await w[kind].load(model, { device });
          let check;
          if (use === "generate") {
            const it = m.generate(prompt, { maxNewTokens: tokens, ignoreEos: true });
            const pieces = [];
            for await (const p of it) pieces.push(p);
            check = it.stats().ids.join(",");
          } else if (use === "generate-abandoned") {
            // A stream the page reads one piece of and then drops, never finishing it.
            const it = m.generate("Once upon a time", { maxNewTokens: 50, ignoreEos: true });
            check = (await it.next()).value;
          } else if (use === "embed") {
            check = Array.from(await m.embed("a short sentence")).slice(0, 4).map((x) => x.toFixed(5)).join(",");
          } else if (use === "finetune") {
            const data = [
              { text: "good great fine", label: "pos" },
              { text: "bad awful poor", label: "neg" },
              { text: "great good", label: "pos" },
              { text: "poor bad", label: "neg" },
            ];
            await m.finetune(data, { method: "head", epochs: 2, batchSize: 2 });
            check = (await m.classify("good great"))[0].label;
          }
          const gpuBytes = m.info().gpuBytes ?? 0;
          m.dispose();
          m.free();
          const s = w.memoryStats();
          rows.push({ heap: s.heapBytes, linear: s.wasmMemoryBytes, gpuBytes, check });
        }
        return { before, rows };
      },
      { kind, model, device, cycles, use, tokens, prompt },
    );
  }

  async function flat(name, args) {
    const t0 = Date.now();
    const { before, rows } = await cycles(args);
    const last = rows.at(-1);
    log(
      `${name}: ${rows.length} cycles in ${((Date.now() - t0) / 1e3).toFixed(1)} s; heap ${MB(before)} MB before, ${MB(last.heap)} after the last dispose; ` +
        `linear memory ${MB(rows[0].linear)} / ${MB(rows[1].linear)} / ${MB(last.linear)} MB after cycles 1 / 2 / ${rows.length}; gpuBytes ${rows[0].gpuBytes}`,
    );
    // The first cycle may keep what is made once per page (the tokenizers'
    // static tables and regexes); every later cycle gives all it took back.
    rows.forEach((r, i) => {
      assert.ok(r.heap - rows[0].heap <= HEAP_SLACK, `${name}: cycle ${i + 1} left ${r.heap - rows[0].heap} bytes more allocated after dispose than cycle 1`);
      assert.equal(r.gpuBytes, rows[0].gpuBytes, `${name}: cycle ${i + 1} GPU bytes`);
      assert.equal(r.check, rows[0].check, `${name}: cycle ${i + 1} gave another result`);
    });
    assert.ok(last.linear - rows[1].linear <= MARGIN(rows[1].linear), `${name}: linear memory grew ${MB(rows[1].linear)} -> ${MB(last.linear)} MB`);
  }

  // On WebGPU fewer cycles: each new SwiftShader device compiles its kernels
  // again (seconds per cycle).
  test("tiny decoders: 100 cycles each on the CPU path (finished and abandoned streams), 10 on WebGPU", { timeout: 10 * MINUTE }, async () => {
    await flat("tiny-qwen2 cpu", { kind: "TextModel", model: "/tests/models/tiny-qwen2/", device: "cpu", cycles: 100, use: "generate" });
    await flat("tiny-llama3 cpu, abandoned", { kind: "TextModel", model: "/tests/models/tiny-llama3/", device: "cpu", cycles: 100, use: "generate-abandoned" });
    await flat("tiny-qwen2 webgpu", { kind: "TextModel", model: "/tests/models/tiny-qwen2/", device: "webgpu", cycles: 10, use: "generate" });
  });

  test("encoders: tiny BERT 100 cycles on the CPU path, 20 on WebGPU", { timeout: 10 * MINUTE }, async () => {
    await flat("tiny-bert cpu", { kind: "Model", model: "/tests/models/tiny-bert-cls/", device: "cpu", cycles: 100, use: "embed" });
    await flat("tiny-bert webgpu", { kind: "Model", model: "/tests/models/tiny-bert-cls/", device: "webgpu", cycles: 20, use: "embed" });
  });

  test("fine-tuning: 30 load/finetune/dispose cycles on the CPU path, 10 on WebGPU", { timeout: 10 * MINUTE }, async () => {
    await flat("tiny-bert finetune cpu", { kind: "Model", model: "/tests/models/tiny-bert-cls/", device: "cpu", cycles: 30, use: "finetune" });
    await flat("tiny-bert finetune webgpu", { kind: "Model", model: "/tests/models/tiny-bert-cls/", device: "webgpu", cycles: 10, use: "finetune" });
  });

  test("soak: 2,000 tokens and 500 embeds in one session, memory flat", { timeout: 10 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const w = window.webfm;
      const lm = await w.TextModel.load("/tests/models/tiny-llama3/", { device: "cpu" });
      const heap = [];
      let tokens = 0;
      try {
        // 8 generations of 250 tokens (the model's context is 256).
        for (let i = 0; i < 8; i++) {
          const it = lm.generate([1 + i], { maxNewTokens: 250, ignoreEos: true, temperature: 0.8, seed: i });
          for await (const _ of it);
          tokens += it.stats().newTokens;
          heap.push(w.memoryStats().heapBytes);
        }
      } finally {
        lm.dispose();
        lm.free();
      }
      const enc = await w.Model.load("/tests/models/tiny-bert-cls/", { device: "cpu" });
      const embedHeap = [];
      const first = Array.from(await enc.embed("the same sentence"));
      let same = true;
      try {
        for (let i = 0; i < 500; i++) {
          const e = await enc.embed("the same sentence");
          same &&= e.every((x, j) => x === first[j]);
          if (i % 100 === 99) embedHeap.push(w.memoryStats().heapBytes);
        }
      } finally {
        enc.dispose();
        enc.free();
      }
      return { tokens, heap, embedHeap, same, linear: w.memoryStats().wasmMemoryBytes };
    });
    log(`soak: ${r.tokens} tokens, heap after each generation ${r.heap.map(MB).join(" ")} MB; 500 embeds, heap every 100 ${r.embedHeap.map(MB).join(" ")} MB`);
    assert.equal(r.tokens, 2000);
    for (const h of r.heap) assert.ok(Math.abs(h - r.heap[0]) <= HEAP_SLACK, `heap moved ${r.heap[0]} -> ${h} between generations`);
    for (const h of r.embedHeap) assert.ok(Math.abs(h - r.embedHeap[0]) <= HEAP_SLACK, `heap moved ${r.embedHeap[0]} -> ${h} between embeds`);
    assert.ok(r.same, "500 embeddings of one sentence all equal the first");
  });

  test("a load cancelled with an AbortSignal rejects with AbortError and frees what it had allocated", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const w = window.webfm;
      const { Model, TextModel } = await import("/pkg/index.js");
      const out = [];
      for (const [Class, url] of [[TextModel, "/models/smollm2/"], [Model, "/models/minilm/"]]) {
        const before = w.memoryStats().heapBytes;
        const ctrl = new AbortController();
        let seen = 0;
        let failure = null;
        try {
          // Aborted once 8 MB of the weights have arrived.
          await Class.load(url, { device: "cpu", cache: false, signal: ctrl.signal, onProgress: (p) => p.loaded > 8 << 20 && ((seen = p.loaded), ctrl.abort()) });
        } catch (e) {
          failure = e.name;
        }
        out.push({ url, failure, seen, left: w.memoryStats().heapBytes - before });
      }
      return out;
    });
    for (const x of r) {
      log(`cancelled load of ${x.url} at ${MB(x.seen)} MB: ${x.failure}; ${x.left} bytes left allocated`);
      assert.equal(x.failure, "AbortError");
      assert.ok(x.seen > 0, "the load was under way");
      assert.ok(x.left <= HEAP_SLACK, `${x.url}: ${x.left} bytes still allocated after the cancelled load`);
    }
  });

  test("MiniLM on the CPU path: 20 load/embed/dispose cycles", { timeout: 10 * MINUTE }, () =>
    flat("MiniLM cpu", { kind: "Model", model: "/models/minilm/", device: "cpu", cycles: 20, use: "embed" }));

  // The large models last: linear memory never shrinks, so the small models'
  // figures mean something only before these have run.
  test("SmolLM2 on the CPU path: 20 load/generate/dispose cycles", { timeout: 10 * MINUTE }, () =>
    flat("SmolLM2 cpu", { kind: "TextModel", model: "/models/smollm2/", device: "cpu", cycles: 20, use: "generate" }));

  // One token from a one-token prompt: on SwiftShader a cycle is mostly
  // compiling the kernels for the new device (~5 s).
  test("SmolLM2 on WebGPU: 20 load/generate/dispose cycles", { timeout: 15 * MINUTE }, () =>
    flat("SmolLM2 webgpu", { kind: "TextModel", model: "/models/smollm2/", device: "webgpu", cycles: 20, use: "generate", tokens: 1, prompt: [1] }));
});
