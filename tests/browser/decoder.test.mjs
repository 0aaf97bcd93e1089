// The decoder API of the built package (TextModel.load, generate as an async
// iterator, AbortSignal, logits) in headless Chromium, on WebGPU
// (SwiftShader) and on the CPU path, against the PyTorch golden files:
//   tiny random GPT-2 / Qwen2 / Llama (tests/models/): logits within 1e-4,
//     16 greedy tokens identical;
//   SmolLM2-135M-Instruct converted from its GGUF (.cache/models/smollm2):
//     last-position logits within 2e-3 (all 8 prompts on WebGPU), 32 greedy
//     tokens identical (the chat prompt through the template on both paths;
//     on the CPU path also a prompt whose output is emoji split over byte
//     tokens, streamed without broken characters);
// streaming with cancel (the model stays usable, no GPU memory leaked), two
// generations at once taking turns, and bad input as readable errors.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { golden, log, maxAbs, MINUTE, useTestPage } from "./common.mjs";

describe("decoders in Chromium", { timeout: 40 * MINUTE }, () => {
  const ctx = useTestPage();

  for (const device of ["webgpu", "cpu"]) {
    test(`tiny GPT-2, Qwen2 and Llama on ${device} match PyTorch`, { timeout: 10 * MINUTE }, async () => {
      const models = golden("tiny_decoders.json").models;
      for (const [name, m] of Object.entries(models)) {
        const r = await ctx.page.evaluate(async ({ device, name, cases }) => {
          const lm = await window.webfm.TextModel.load(`/tests/models/${name}/`, { device });
          try {
            const out = [];
            for (const [i, c] of cases.entries()) {
              const logits = Array.from(await lm.logits(c.prompt, { all: i === 0 }));
              const it = lm.generate(c.prompt, { maxNewTokens: 16, ignoreEos: true });
              let text = "";
              for await (const piece of it) text += piece;
              out.push({ ids: Array.from(lm.tokenize(c.prompt)), logits, text, stats: it.stats() });
            }
            return { info: lm.info(), out };
          } finally {
            lm.dispose();
          }
        }, { device, name, cases: m.cases });
        assert.equal(r.info.deviceKind, device);
        m.cases.forEach((c, i) => {
          const o = r.out[i];
          assert.deepEqual(o.ids, c.prompt_ids, `${name}: prompt ids`);
          const want = i === 0 ? c.all_logits.flat() : c.logits;
          const d = maxAbs(o.logits, want);
          assert.ok(o.logits.length === want.length && d <= 1e-4, `${name} on ${device}: logits differ by ${d}`);
          assert.deepEqual(o.stats.ids, c.greedy_ids, `${name} on ${device}: greedy tokens`);
          assert.equal(o.stats.finish, "length");
          assert.equal(o.text, c.greedy_text, `${name} on ${device}: the streamed text`);
        });
        log(`${name} on ${device}: ${r.info.device}: logits and greedy tokens match`);
      }
    });
  }

  test("SmolLM2 on WebGPU and the CPU path matches PyTorch", { timeout: 25 * MINUTE }, async () => {
    const g = golden("smollm2_generate.json");
    const chat = g.cases.find((c) => c.chat);
    const emoji = g.cases.find((c) => c.prompt.startsWith("Café"));
    // WebGPU here is SwiftShader (~0.3 tokens/s for SmolLM2): every prompt's
    // logits there, greedy tokens for the chat prompt; on the CPU path greedy
    // tokens for three prompts, one of them emoji split over byte tokens.
    const greedy = { webgpu: [chat], cpu: [chat, emoji, g.cases[0]] };
    const plan = {
      webgpu: g.cases.map((c) => ({ ...c, greedy: greedy.webgpu.includes(c) })),
      cpu: greedy.cpu.map((c) => ({ ...c, greedy: true })),
    };
    for (const device of ["webgpu", "cpu"]) {
      const t0 = Date.now();
      const r = await ctx.page.evaluate(async ({ device, cases, n }) => {
        const lm = await window.webfm.TextModel.load("/models/smollm2/", { device });
        try {
          const out = [];
          for (const c of cases) {
            const prompt = c.chat ? c.messages : c.prompt;
            const rendered = c.chat ? lm.applyChatTemplate(c.messages) : c.prompt;
            const logits = await lm.logits(prompt);
            const row = { rendered, ids: Array.from(lm.tokenize(rendered)), head: Array.from(logits.slice(0, 256)), top: c.top.map(([id]) => logits[id]) };
            if (c.greedy) {
              const it = lm.generate(prompt, { maxNewTokens: n, ignoreEos: true });
              row.pieces = [];
              for await (const piece of it) row.pieces.push(piece);
              row.stats = it.stats();
            }
            out.push(row);
          }
          return { info: lm.info(), out };
        } finally {
          lm.dispose();
        }
      }, { device, cases: plan[device], n: g.new_tokens });
      plan[device].forEach((c, i) => {
        const o = r.out[i];
        if (c.chat) assert.equal(o.rendered, c.prompt, "chat template");
        assert.deepEqual(o.ids, c.prompt_ids, "prompt ids");
        const d = Math.max(maxAbs(o.head, c.logits_head), maxAbs(o.top, c.top.map(([, v]) => v)));
        assert.ok(d <= 2e-3, `${JSON.stringify(c.prompt.slice(0, 30))} on ${device}: logits differ by ${d}`);
        if (!c.greedy) return log(`SmolLM2 on ${device}: ${JSON.stringify(c.prompt.slice(0, 30))}: logits within ${d.toExponential(2)}`);
        assert.deepEqual(o.stats.ids, c.greedy_ids, `${JSON.stringify(c.prompt.slice(0, 30))} on ${device}: greedy tokens`);
        assert.equal(o.pieces.join(""), c.greedy_text, "the pieces join into the reference text");
        for (const p of o.pieces) assert.ok(!p.includes("\uFFFD"), `a piece with a broken character: ${JSON.stringify(p)}`);
        log(`SmolLM2 on ${device}: ${JSON.stringify(c.prompt.slice(0, 30))}: logits within ${d.toExponential(2)}, ${o.stats.newTokens} tokens, first after ${Math.round(o.stats.msFirstToken)} ms, ${o.stats.tokensPerSecond.toFixed(2)} tokens/s`);
      });
      log(`SmolLM2 on ${device}: ${r.info.device}, load ${Math.round(r.info.load.millis)} ms, GPU ${(r.info.gpuBytes / 2 ** 20).toFixed(1)} MiB (test ${Date.now() - t0} ms)`);
    }
  });

  test("a cancelled generation stops within a token, and the model stays usable; two at once take turns", { timeout: 10 * MINUTE }, async () => {
    const c = golden("tiny_decoders.json").models["tiny-llama3"].cases[0];
    const r = await ctx.page.evaluate(async ({ prompt }) => {
      const lm = await window.webfm.TextModel.load("/tests/models/tiny-llama3/", { device: "webgpu" });
      try {
        const opts = { maxNewTokens: 16, ignoreEos: true };
        const before = lm.info().gpuBytes;
        // Cancel with an AbortSignal after 3 pieces.
        const ctl = new AbortController();
        const cancelled = lm.generate(prompt, { maxNewTokens: 100, ignoreEos: true, signal: ctl.signal });
        let pieces = 0, atAbort = 0;
        for await (const _ of cancelled) {
          if (++pieces === 3) {
            atAbort = cancelled.stats().newTokens;
            ctl.abort();
          }
        }
        const afterCancel = cancelled.stats();
        // `break` out of for-await calls return(): also a cancel.
        const broken = lm.generate(prompt, opts);
        for await (const _ of broken) break;
        // Two at once: each must see its own cache; the second waits its turn.
        const order = [];
        const run = async (tag) => {
          const it = lm.generate(prompt, opts);
          for await (const _ of it) order.push(tag);
          return it.stats();
        };
        const [a, b] = await Promise.all([run("a"), run("b")]);
        return { afterCancel, pieces, atAbort, broken: broken.stats(), a, b, order: order.join(""), before, after: lm.info().gpuBytes };
      } finally {
        lm.dispose();
      }
    }, { prompt: c.prompt });
    assert.equal(r.afterCancel.finish, "cancelled");
    assert.ok(r.afterCancel.newTokens <= r.atAbort + 1, `aborted at ${r.atAbort} tokens but ${r.afterCancel.newTokens} ran`);
    assert.equal(r.broken.finish, "cancelled");
    assert.deepEqual(r.a.ids, c.greedy_ids, "first of two at once");
    assert.deepEqual(r.b.ids, c.greedy_ids, "second of two at once");
    assert.match(r.order, /^a+b+$/, "the second generation waits for the first");
    assert.equal(r.after, r.before, "GPU bytes in use after cancelled and finished generations");
    log(`abort at ${r.atAbort} tokens: ${r.afterCancel.newTokens} ran; GPU bytes ${r.before} before and after`);
  });

  test("bad prompts, options and folders give readable errors", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const lm = await window.webfm.TextModel.load("/tests/models/tiny-qwen2/", { device: "cpu" });
      const errors = {};
      const attempt = async (name, f) => {
        try {
          const it = await f();
          for await (const _ of it) { /* drain */ }
          errors[name] = null;
        } catch (e) {
          errors[name] = e.message;
        }
      };
      await attempt("empty", () => lm.generate("", {}));
      await attempt("temperature", () => lm.generate("hi", { temperature: -1 }));
      await attempt("topP", () => lm.generate("hi", { temperature: 1, topP: 1.5 }));
      await attempt("context", () => lm.generate("hi", { maxNewTokens: 1000 }));
      await attempt("role", () => lm.generate([{ role: "wizard", content: "hi" }], {}));
      await attempt("noTemplate", () => lm.generate([{ role: "user", content: "hi" }], {}));
      await attempt("bert", () => window.webfm.TextModel.load("/tests/models/tiny-bert-cls/", { device: "cpu" }));
      await attempt("missing", () => window.webfm.TextModel.load("/tests/models/no-such-model/", { device: "cpu" }));
      // Still usable after all that.
      const it = lm.generate("hi", { maxNewTokens: 3 });
      for await (const _ of it) { /* drain */ }
      errors.afterwards = it.stats().newTokens;
      lm.dispose();
      return errors;
    });
    assert.match(r.empty, /prompt is empty/);
    assert.match(r.temperature, /temperature/);
    assert.match(r.topP, /topP/);
    assert.match(r.context, /context of 128/);
    assert.match(r.role, /no chat template|unknown role/);
    assert.match(r.noTemplate, /no chat template/);
    assert.match(r.bert, /"bert"/);
    assert.match(r.missing, /config\.json/);
    assert.equal(r.afterwards, 3);
  });
});
