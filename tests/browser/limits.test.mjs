// Limits named before they hit, in Chromium: a model whose weights cannot
// fit fails after the first chunk of its weights (their safetensors header),
// not after downloading them all, with the sizes in the message; a KV cache
// that cannot fit fails at `generate`, before anything runs; small option
// mistakes throw instead of being taken.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { log, MINUTE, useTestPage } from "./common.mjs";

const TINY = "/tests/models/tiny-llama3/";

/** A safetensors file whose header declares f32 tensors of `shapes` but which carries only 1 KB of data. */
function claimed(...shapes) {
  let at = 0;
  const tensors = {};
  shapes.forEach((shape, i) => {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    tensors[`model.layers.${i}.mlp.up_proj.weight`] = { dtype: "F32", shape, data_offsets: [at, at + bytes] };
    at += bytes;
  });
  const header = Buffer.from(JSON.stringify(tensors));
  const out = Buffer.alloc(8 + header.length + 1024);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  header.copy(out, 8);
  return Array.from(out);
}

describe("limits named before they hit", { timeout: 10 * MINUTE }, () => {
  const ctx = useTestPage();

  test("weights too large for wasm32 memory (CPU) or for one GPU buffer fail at their header, naming the sizes", async () => {
    const limit = await ctx.page.evaluate(async () => (await window.webfm.adapterInfo()).limits.maxStorageBufferBindingSize);
    // Two tensors of 2.1 GiB for the CPU path (each one fits the address
    // space, both do not fit the 4 GiB); for the GPU one row past the binding limit.
    const cases = { cpu: claimed([140000, 4096], [140000, 4096]), webgpu: claimed([2, Math.floor(limit / 4) + 1024]) };
    const r = await ctx.page.evaluate(
      async ({ url, cases }) => {
        const { TextModel } = await import("/pkg/index.js");
        const out = {};
        for (const [device, bytes] of Object.entries(cases)) {
          const weights = new Uint8Array(bytes);
          try {
            await TextModel.load({ config: `${url}config.json`, tokenizer: `${url}tokenizer.json`, weights }, { device, cache: false });
            out[device] = "loaded";
          } catch (e) {
            out[device] = e.message;
          }
        }
        return out;
      },
      { url: TINY, cases },
    );
    log(`too large: cpu: ${r.cpu}\n  webgpu: ${r.webgpu}`);
    assert.match(r.cpu, /weights\[0\]: its weights on the CPU path \(4375 MB, and 64 MB to run the model\) needs \d+ bytes, over this device's wasm32 memory left/);
    assert.match(r.webgpu, /one row of which needs \d+ bytes, over this device's maxStorageBufferBindingSize of \d+ bytes/);
  });

  test("a KV cache that cannot fit is refused at generate, with its size", async () => {
    const r = await ctx.page.evaluate(async (url) => {
      const { TextModel } = await import("/pkg/index.js");
      // The tiny model with a context of 10^8 positions: its cache is what runs out.
      const config = { ...(await (await fetch(`${url}config.json`)).json()), max_position_embeddings: 100_000_000 };
      const out = {};
      for (const device of ["cpu", "webgpu"]) {
        const lm = await TextModel.load({ config, tokenizer: `${url}tokenizer.json`, weights: `${url}model.safetensors` }, { device, cache: false });
        try {
          lm.generate("hi", { maxNewTokens: 60_000_000 });
          out[device] = "accepted";
        } catch (e) {
          out[device] = e.message;
        }
        // The model is still usable with a cache that fits.
        const it = lm.generate("hi", { maxNewTokens: 3, ignoreEos: true });
        for await (const _ of it);
        out[`${device}Then`] = it.stats().newTokens;
        lm.dispose();
      }
      return out;
    }, TINY);
    log(`KV cache: cpu: ${r.cpu}\n  webgpu: ${r.webgpu}`);
    assert.match(r.cpu, /a KV cache of 600000\d\d positions × 16 floats per layer \(lower maxNewTokens or the prompt\) for 2 layers needs \d+ bytes, over this device's wasm32 memory left/);
    assert.match(r.webgpu, /a KV cache of 600000\d\d positions × 16 floats per layer .* over this device's maxStorageBufferBindingSize/);
    assert.equal(r.cpuThen, 3);
    assert.equal(r.webgpuThen, 3);
  });

  test("small option mistakes throw: a negative topK, a misspelt option, a wrong type", async () => {
    const r = await ctx.page.evaluate(async () => {
      const { Model, TextModel } = await import("/pkg/index.js");
      const m = await Model.load("/tests/models/tiny-bert-cls/", { device: "cpu", cache: false });
      const lm = await TextModel.load("/tests/models/tiny-llama3/", { device: "cpu", cache: false });
      const out = {};
      const attempt = async (name, f) => {
        try {
          await f();
          out[name] = "accepted";
        } catch (e) {
          out[name] = e.message;
        }
      };
      await attempt("topK", () => m.classify("text", { topK: -3 }));
      await attempt("misspelt", () => lm.generate("hi", { max_new_tokens: 8 }));
      await attempt("type", () => lm.generate("hi", { temperature: "hot" }));
      m.dispose();
      lm.dispose();
      return out;
    });
    assert.match(r.topK, /classify options: topK: must be a whole number ≥ 0, got -3/);
    assert.match(r.misspelt, /generate options: unknown field `max_new_tokens`/);
    assert.match(r.type, /generate options: temperature: .*"hot"/);
  });
});
