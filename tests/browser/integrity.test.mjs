// Integrity of model files, through the package in Chromium: the
// `integrity` load option (Subresource Integrity, sha256) checked while
// each file streams, shards' digests from an index file, and the cache's
// read-back check (a cached file whose bytes changed is evicted and fetched
// again). The expected digests are computed here by Node's crypto, an
// implementation independent of the wasm's SHA-256.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { log, MINUTE, ROOT, useTestPage } from "./common.mjs";

const MODEL = "/tests/models/tiny-bert-cls/";
const file = (name) => readFileSync(join(ROOT, "tests", "models", "tiny-bert-cls", name));
const sri = (bytes) => `sha256-${createHash("sha256").update(bytes).digest("base64")}`;
const WEIGHTS_SRI = sri(file("model.safetensors"));
const CONFIG_SRI = sri(file("config.json"));
const WRONG = sri(Buffer.from("not the weights"));

/** The tensor names of the tiny model's safetensors header, for an index that maps them all to one shard. */
function tensorNames() {
  const b = file("model.safetensors");
  const n = Number(b.readBigUInt64LE(0));
  return Object.keys(JSON.parse(b.subarray(8, 8 + n).toString("utf8"))).filter((k) => k !== "__metadata__");
}

describe("integrity of model files", { timeout: 10 * MINUTE }, () => {
  const ctx = useTestPage();

  test("the right digests load; a wrong one fails naming both and leaves nothing in the cache", async () => {
    const r = await ctx.page.evaluate(
      async ({ url, good, config, wrong }) => {
        const { Model, clearCache } = await import("/pkg/index.js");
        await clearCache();
        const m = await Model.load(url, { device: "cpu", integrity: { "model.safetensors": good, "config.json": config } });
        const scores = await m.classify("a test sentence");
        m.dispose();
        await clearCache();
        let failure = null;
        try {
          await Model.load(url, { device: "cpu", integrity: { "model.safetensors": wrong } });
        } catch (e) {
          failure = { name: e.name, message: e.message };
        }
        const cache = await caches.open("webfm-models-v1");
        const left = (await cache.keys()).map((k) => k.url.split("/").pop());
        let badOption = null;
        try {
          await Model.load(url, { device: "cpu", integrity: { "model.safetensors": "md5-abc" } });
        } catch (e) {
          badOption = e.message;
        }
        return { label: scores[0].label, failure, left, badOption };
      },
      { url: MODEL, good: WEIGHTS_SRI, config: CONFIG_SRI, wrong: WRONG },
    );
    log(`integrity: ${r.failure?.name}: ${r.failure?.message}; cache after: ${JSON.stringify(r.left)}; bad option: ${r.badOption}`);
    assert.ok(r.label, "loaded with the right digests");
    assert.equal(r.failure?.name, "IntegrityError");
    assert.ok(r.failure.message.includes(WRONG) && r.failure.message.includes(WEIGHTS_SRI), "the error names the expected and the found digest");
    assert.ok(!r.left.includes("model.safetensors"), "the refused file is not in the cache");
    assert.match(r.badOption, /integrity for model\.safetensors must be "sha256-"/);
  });

  test("a cached file whose bytes changed is detected as it is read back, evicted and fetched again", async () => {
    const r = await ctx.page.evaluate(async ({ url }) => {
      const { Model, clearCache } = await import("/pkg/index.js");
      await clearCache();
      const first = await Model.load(url, { device: "cpu" });
      const want = Array.from(await first.embed("the same sentence"));
      first.dispose();
      // Flip one byte of the cached weights, as a disk error would.
      const cache = await caches.open("webfm-models-v1");
      const key = new URL("model.safetensors", new URL(url, location.href)).href;
      const stored = await cache.match(key);
      const bytes = new Uint8Array(await stored.arrayBuffer());
      bytes[bytes.length - 3] ^= 0x40;
      await cache.put(key, new Response(bytes, { headers: stored.headers }));
      const warnings = [];
      const second = await Model.load(url, { device: "cpu", onProgress: (p) => p.warning && warnings.push(p.warning) });
      const got = Array.from(await second.embed("the same sentence"));
      const report = second.info().cache.filter((c) => c.url.endsWith("/model.safetensors"));
      second.dispose();
      const third = await Model.load(url, { device: "cpu" });
      const fromCache = third.info().cache.every((c) => c.from === "cache");
      third.dispose();
      return { same: got.every((x, i) => x === want[i]), warnings, report, fromCache };
    }, { url: MODEL });
    log(`read-back: ${JSON.stringify(r.warnings)}; weights ${JSON.stringify(r.report)}`);
    assert.ok(r.same, "the reloaded model gives the embedding of the intact file");
    assert.ok(r.warnings.some((w) => /changed in the cache/.test(w)), "the page is told");
    assert.deepEqual(r.report.map((c) => c.from), ["network"], "this load's weights came from the network");
    assert.ok(r.fromCache, "the next load reads the repaired cache");
  });

  test("a sharded folder's index carries its shards' digests", async () => {
    const index = (digest) => ({ metadata: {}, weight_map: Object.fromEntries(tensorNames().map((n) => [n, "shard-1.safetensors"])), integrity: { "shard-1.safetensors": digest } });
    const r = await ctx.page.evaluate(
      async ({ url, good, bad }) => {
        const { Model } = await import("/pkg/index.js");
        // A folder laid out as a sharded one: no model.safetensors, an index, one shard (the tiny model's file).
        const folder = (index) => async (u) => {
          const name = u.split("/").pop();
          if (name === "model.safetensors") return new Response("", { status: 404 });
          if (name === "model.safetensors.index.json") return new Response(JSON.stringify(index));
          if (name === "shard-1.safetensors") return fetch(new URL("model.safetensors", new URL(url, location.href)));
          return fetch(u);
        };
        const m = await Model.load(url, { device: "cpu", fetch: folder(good) });
        const files = m.info().load.files;
        m.dispose();
        let failure = null;
        try {
          await Model.load(url, { device: "cpu", fetch: folder(bad) });
        } catch (e) {
          failure = { name: e.name, message: e.message };
        }
        return { files, failure };
      },
      { url: MODEL, good: index(WEIGHTS_SRI), bad: index(WRONG) },
    );
    log(`sharded: loaded ${JSON.stringify(r.files)}; with a wrong digest: ${r.failure?.message}`);
    assert.deepEqual(r.files, ["shard-1.safetensors"]);
    assert.equal(r.failure?.name, "IntegrityError");
    assert.match(r.failure.message, /shard-1\.safetensors failed its integrity check/);
  });

  test("the wasm SHA-256 agrees with Node's over a streamed 64 MB, and what it costs", async () => {
    const chunk = Buffer.alloc(1 << 20).map((_, i) => (i * 7) & 255);
    const node = createHash("sha256");
    for (let i = 0; i < 64; i++) node.update(chunk);
    const r = await ctx.page.evaluate(async () => {
      const { Sha256 } = await import("/pkg/webfm.js");
      const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
      const h = new Sha256();
      const t0 = performance.now();
      for (let i = 0; i < 64; i++) h.update(chunk);
      const digest = h.finish();
      return { digest, mbPerS: 64 / ((performance.now() - t0) / 1e3) };
    });
    log(`SHA-256 in the page: ${r.mbPerS.toFixed(0)} MB/s (a 100 MB model adds ${(100 / r.mbPerS).toFixed(2)} s to a load)`);
    assert.equal(r.digest, `sha256-${node.digest("base64")}`);
  });
});
