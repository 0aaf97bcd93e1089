// A lost GPU device, in Chromium on WebGPU (SwiftShader): the test hook
// `_loseDevice()` destroys the model's GPUDevice as a driver reset would,
// in the middle of a generation and of a fine-tuning step, on the main
// thread and in a Worker. Each time:
// - the call that was running fails with an error named `DeviceLost`;
// - the model reloads itself on a new device (from the Cache API: no file
//   is downloaded twice) and says so through `onDeviceLost` and `info()`;
// - the next call works and gives what an undisturbed model gives (the same
//   greedy ids, the same adapter).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { log, MINUTE, useTestPage } from "./common.mjs";

const TINY_LM = "/tests/models/tiny-qwen2/";
const TINY_BERT = "/tests/models/tiny-bert-cls/";

describe("a lost GPU device", { timeout: 15 * MINUTE }, () => {
  const ctx = useTestPage();

  for (const where of ["main thread", "Worker"]) {
    test(`${where}: during a generation, then the next generation works`, { timeout: 5 * MINUTE }, async () => {
      const r = await ctx.page.evaluate(
        async ({ url, worker }) => {
          const { TextModel } = await import("/pkg/index.js");
          const { WorkerTextModel } = await import("/pkg/worker.js");
          const Class = worker ? WorkerTextModel : TextModel;
          const events = [];
          const lm = await Class.load(url, { device: "auto", onDeviceLost: (e) => events.push(e) });
          const ids = async () => {
            const it = lm.generate("hello", { maxNewTokens: 12, ignoreEos: true });
            for await (const _ of it);
            return it.stats().ids;
          };
          try {
            const before = await ids();
            const deviceBefore = (await lm.info()).device;
            // Lose the device after the second piece of a longer generation.
            const it = lm.generate("hello", { maxNewTokens: 40, ignoreEos: true });
            let pieces = 0;
            let failure = null;
            try {
              for await (const _ of it) {
                if (++pieces === 2) await lm._loseDevice();
              }
            } catch (e) {
              failure = { name: e.name, message: e.message };
            }
            const after = await ids();
            // The event arrives once the reload is done (the call above waited for it).
            for (let i = 0; i < 100 && !events.length; i++) await new Promise((r) => setTimeout(r, 50));
            const info = await lm.info();
            return { before, after, pieces, failure, events, deviceBefore, info: { device: info.device, deviceLost: info.deviceLost, cache: info.cache } };
          } finally {
            lm.dispose();
          }
        },
        { url: TINY_LM, worker: where === "Worker" },
      );
      log(`${where}: lost after ${r.pieces} pieces: ${r.failure?.name}: ${r.failure?.message}; event ${JSON.stringify(r.events[0])}`);
      assert.equal(r.failure?.name, "DeviceLost", "the running generation fails with DeviceLost");
      assert.ok(r.pieces >= 2 && r.pieces < 40, `stopped midway (${r.pieces} pieces)`);
      assert.deepEqual(r.after, r.before, "the next generation gives the undisturbed greedy ids");
      assert.equal(r.events.length, 1, "onDeviceLost once");
      assert.equal(r.events[0].recovered, true);
      assert.equal(r.events[0].from, r.deviceBefore);
      assert.ok(r.events[0].to, "the new device is named");
      assert.equal(r.info.deviceLost.length, 1, "info().deviceLost lists the loss");
      assert.ok(r.info.cache.length > 0 && r.info.cache.every((c) => c.from === "cache"), `the reload came from the cache: ${JSON.stringify(r.info.cache)}`);
    });

    test(`${where}: during fine-tuning, then training again works and its adapter survives a second loss`, { timeout: 5 * MINUTE }, async () => {
      const r = await ctx.page.evaluate(
        async ({ url, worker }) => {
          const { Model } = await import("/pkg/index.js");
          const { WorkerModel } = await import("/pkg/worker.js");
          const Class = worker ? WorkerModel : Model;
          const events = [];
          const m = await Class.load(url, { device: "webgpu", onDeviceLost: (e) => events.push(e) });
          const data = [
            { text: "good great fine", label: "pos" },
            { text: "bad awful poor", label: "neg" },
            { text: "great good nice", label: "pos" },
            { text: "poor bad awful", label: "neg" },
          ];
          const options = { method: "head", epochs: 6, batchSize: 2, lr: 0.05, seed: 1 };
          try {
            let failure = null;
            let lostAt = 0;
            try {
              await m.finetune(data, {
                ...options,
                onStep: (s) => {
                  if (s.step === 2 && !lostAt) {
                    lostAt = s.step;
                    m._loseDevice();
                  }
                },
              });
            } catch (e) {
              failure = { name: e.name, message: e.message };
            }
            const adapter = await m.finetune(data, options);
            const scores = async () => (await m.classify(data.map((d) => d.text))).map((r) => [r[0].label, r[0].score.toFixed(4)]);
            const tuned = await scores();
            // A second loss: the reloaded model brings the trained adapter back.
            await m._loseDevice();
            let second = null;
            try {
              await m.classify("good");
            } catch (e) {
              second = e.name;
            }
            const again = await scores();
            for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
            return { failure, lostAt, steps: adapter.report.steps, loss: adapter.report.trainLoss, tuned, again, second, events };
          } finally {
            m.dispose();
          }
        },
        { url: TINY_BERT, worker: where === "Worker" },
      );
      log(`${where}: finetune lost at step ${r.lostAt}: ${r.failure?.name}: ${r.failure?.message}; then ${r.steps} steps; second loss: ${r.second}`);
      assert.equal(r.failure?.name, "DeviceLost", "the running fine-tuning fails with DeviceLost");
      assert.ok(r.steps > 0);
      assert.ok(r.loss.at(-1) < r.loss[0], `training on the new device lowers the loss: ${r.loss[0]} -> ${r.loss.at(-1)}`);
      assert.deepEqual(r.again, r.tuned, "after the second loss the reloaded model has the same adapter");
      assert.equal(r.events.length, 2);
      assert.ok(r.events.every((e) => e.recovered));
    });
  }

  test("device: auto, and no GPU to be had after the loss: the model goes on on the CPU path", { timeout: 5 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async (url) => {
      const { TextModel } = await import("/pkg/index.js");
      const events = [];
      const lm = await TextModel.load(url, { device: "auto", onDeviceLost: (e) => events.push(e) });
      const ids = async () => {
        const it = lm.generate("hello", { maxNewTokens: 12, ignoreEos: true });
        for await (const _ of it);
        return it.stats().ids;
      };
      const request = navigator.gpu.requestAdapter;
      try {
        const before = await ids();
        const kindBefore = lm.info().deviceKind;
        // From now on this page gets no adapter, as after a GPU process crash that blocklists the GPU.
        navigator.gpu.requestAdapter = async () => null;
        lm._loseDevice();
        const after = await ids();
        return { before, after, kindBefore, kindAfter: lm.info().deviceKind, events };
      } finally {
        navigator.gpu.requestAdapter = request;
        lm.dispose();
      }
    }, TINY_LM);
    log(`auto without a GPU: ${r.kindBefore} -> ${r.kindAfter}; event ${JSON.stringify(r.events[0])}`);
    assert.equal(r.kindBefore, "webgpu");
    assert.equal(r.kindAfter, "cpu");
    assert.equal(r.events[0]?.recovered, true);
    assert.match(r.events[0].to, /^cpu/);
    assert.deepEqual(r.after, r.before, "the CPU path gives the same greedy ids");
  });
});
