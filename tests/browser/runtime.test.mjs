// The package's runtime services in headless Chromium, through pkg/index.js
// and pkg/worker.js as served from the repository:
// - Worker mode: SmolLM2 generating in a Worker leaves the page's main thread
//   without a task over 50 ms (Long Tasks API, with a control long task that
//   must be seen), gives PyTorch's greedy ids, and cancels across the boundary;
// - the Cache API: a second load makes no request for weights, "revalidate"
//   only HEADs, clearCache() empties it, a corrupt download is not kept, a
//   full quota loads anyway and says how much space was needed;
// - privacy: once loaded, embed / zero-shot / similarity / chat make no
//   network request at all.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { golden, log, MINUTE, ROOT, useTestPage } from "./common.mjs";

describe("Worker mode, caching and privacy", { timeout: 30 * MINUTE }, () => {
  const ctx = useTestPage();

  /** Requests the page (and its workers) make while `f` runs. */
  async function requestsDuring(f) {
    const seen = [];
    const on = (r) => seen.push({ url: new URL(r.url()).pathname, method: r.method() });
    ctx.page.on("request", on);
    try {
      return { value: await f(), requests: seen };
    } finally {
      ctx.page.off("request", on);
    }
  }

  test("a long generation in a Worker keeps the main thread free, matches PyTorch, and cancels", { timeout: 10 * MINUTE }, async () => {
    const chat = golden("smollm2_generate.json").cases.find((c) => c.chat);
    const r = await ctx.page.evaluate(async ({ messages, n }) => {
      const { WorkerTextModel } = await import("/pkg/worker.js");
      const m = await WorkerTextModel.load("/models/smollm2/", { device: "cpu", cache: false });
      try {
        const supported = PerformanceObserver.supportedEntryTypes.includes("longtask");
        const long = [];
        const obs = new PerformanceObserver((l) => long.push(...l.getEntries().map((e) => e.duration)));
        obs.observe({ type: "longtask" });
        const t0 = performance.now();
        const stream = m.generate(messages, { maxNewTokens: n });
        let text = "";
        for await (const piece of stream) text += piece;
        const ms = performance.now() - t0;
        await new Promise((r) => setTimeout(r, 200)); // long task entries arrive after the task
        const during = long.length;
        const longest = Math.max(0, ...long);
        // Control: a 120 ms busy loop on the main thread must be reported.
        const end = performance.now() + 120;
        while (performance.now() < end);
        await new Promise((r) => setTimeout(r, 200));
        obs.disconnect();
        const ctrl = new AbortController();
        const s2 = m.generate("Once upon a time", { maxNewTokens: 200, ignoreEos: true, signal: ctrl.signal });
        let pieces = 0;
        for await (const _ of s2) if (++pieces === 3) ctrl.abort();
        const s3 = m.generate("Once upon a time", { maxNewTokens: 200, ignoreEos: true });
        let broke = 0;
        for await (const _ of s3) if (++broke === 2) break;
        const after = await m.logits("Hello", {});
        return { supported, during, longest, control: long.length - during, ms, text, stats: stream.stats(), cancelled: s2.stats(), broken: s3.stats(), afterLen: after.length };
      } finally {
        m.dispose();
      }
    }, { messages: chat.messages, n: chat.greedy_ids.length });
    assert.ok(r.supported, "this Chromium has no Long Tasks API");
    assert.equal(r.control, 1, "the control long task was not reported: the check would be blind");
    assert.equal(r.during, 0, `the main thread had ${r.during} task(s) over 50 ms during generation (longest ${r.longest} ms)`);
    assert.deepEqual(r.stats.ids, chat.greedy_ids);
    assert.equal(r.text, chat.greedy_text);
    assert.equal(r.cancelled.finish, "cancelled");
    assert.ok(r.cancelled.newTokens < 20, `abort stopped after ${r.cancelled.newTokens} tokens`);
    assert.equal(r.broken.finish, "cancelled", "break out of the loop did not cancel the generation in the Worker");
    assert.equal(r.afterLen, 49152);
    log(`Worker: ${chat.greedy_ids.length} tokens in ${r.ms.toFixed(0)} ms (${r.stats.tokensPerSecond.toFixed(1)} tok/s), no long task on the main thread; abort after ${r.cancelled.newTokens} tokens`);
  });

  test("a second load takes the weights from the Cache API; revalidate only HEADs; clearCache empties it", { timeout: 5 * MINUTE }, async () => {
    const size = statSync(join(ROOT, ".cache", "models", "minilm", "model.safetensors")).size;
    await ctx.page.evaluate(async () => (await import("/pkg/index.js")).clearCache());
    const load = (cache) =>
      requestsDuring(() =>
        ctx.page.evaluate(async (cache) => {
          const { Model, cacheUsage } = await import("/pkg/index.js");
          const m = await Model.load("/models/minilm/", { device: "cpu", cache });
          const e = await m.embed("cached weights");
          const info = m.info();
          m.dispose();
          return { cache: info.cache, first: e[0], usage: await cacheUsage() };
        }, cache),
      );
    const first = await load(true);
    const weightsGets = (rs) => rs.filter((q) => q.url.endsWith(".safetensors") && q.method === "GET").length;
    assert.equal(weightsGets(first.requests), 1, JSON.stringify(first.requests));
    assert.ok(first.value.cache.every((c) => c.from === "network" && c.stored), JSON.stringify(first.value.cache));
    assert.ok(first.value.usage.bytes >= size, `cache holds ${first.value.usage.bytes} bytes, the weights alone are ${size}`);

    const second = await load(true);
    assert.equal(weightsGets(second.requests), 0, `second load fetched weights: ${JSON.stringify(second.requests)}`);
    assert.equal(second.requests.filter((q) => q.url.startsWith("/models/minilm/")).length, 0, JSON.stringify(second.requests));
    assert.ok(second.value.cache.every((c) => c.from === "cache"), JSON.stringify(second.value.cache));
    assert.equal(second.value.first, first.value.first);

    const third = await load("revalidate");
    const models = third.requests.filter((q) => q.url.startsWith("/models/minilm/"));
    assert.ok(models.length > 0 && models.every((q) => q.method === "HEAD"), JSON.stringify(models));
    assert.ok(third.value.cache.every((c) => c.from === "cache"));

    const cleared = await ctx.page.evaluate(async () => {
      const { clearCache, cacheUsage } = await import("/pkg/index.js");
      return { deleted: await clearCache(), usage: await cacheUsage() };
    });
    assert.deepEqual(cleared, { deleted: true, usage: { files: 0, bytes: 0 } });
    log(`cache: first load ${first.requests.length} requests, second ${second.requests.length}, revalidate ${models.length} HEADs`);
  });

  test("once loaded, embed, zero-shot, similarity and chat make no network request", { timeout: 5 * MINUTE }, async () => {
    await ctx.page.evaluate(async () => {
      const { Model, TextModel } = await import("/pkg/index.js");
      window.__enc = await Model.load("/models/minilm/", { device: "cpu" });
      window.__lm = await TextModel.load("/models/smollm2/", { device: "cpu" });
    });
    const { value, requests } = await requestsDuring(() =>
      ctx.page.evaluate(async () => {
        const out = {};
        out.embed = (await window.__enc.embed(["a private sentence", "another one"])).length;
        out.zeroShot = (await window.__enc.zeroShot("my bank statement", ["finance", "sports"]))[0].label;
        out.similarity = await window.__enc.similarity("cat", "kitten");
        let text = "";
        for await (const p of window.__lm.generate([{ role: "user", content: "Say hello." }], { maxNewTokens: 8 })) text += p;
        out.chat = text;
        window.__enc.dispose();
        window.__lm.dispose();
        return out;
      }),
    );
    assert.deepEqual(requests, [], `requests after loading: ${JSON.stringify(requests)}`);
    assert.equal(value.embed, 2);
    assert.equal(value.zeroShot, "finance");
    assert.ok(value.chat.length > 0);
    await ctx.page.evaluate(async () => (await import("/pkg/index.js")).clearCache());
  });

  test("a corrupt download is not cached, a broken URL says so, and the page keeps working", { timeout: 5 * MINUTE }, async () => {
    const good = readFileSync(join(ROOT, "tests", "models", "tiny-bert-cls", "model.safetensors"));
    await ctx.page.route("**/corrupt/model.safetensors", (route) => route.fulfill({ status: 200, contentType: "application/octet-stream", body: good.subarray(0, good.length - 1000) }));
    try {
      const r = await ctx.page.evaluate(async () => {
        const { Model } = await import("/pkg/index.js");
        const files = (weights) => ({ config: "/tests/models/tiny-bert-cls/config.json", tokenizer: "/tests/models/tiny-bert-cls/tokenizer.json", weights });
        const errors = {};
        for (const [name, src] of [["corrupt", files("/corrupt/model.safetensors")], ["missing", "/models/no-such-model/"]]) {
          try {
            (await Model.load(src, { device: "cpu" })).dispose();
            errors[name] = null;
          } catch (e) {
            errors[name] = e.message;
          }
        }
        const cache = await caches.open("webfm-models-v1");
        const kept = !!(await cache.match("/corrupt/model.safetensors"));
        const m = await Model.load(files("/tests/models/tiny-bert-cls/model.safetensors"), { device: "cpu" });
        const label = (await m.classify("still works"))[0].label;
        m.dispose();
        return { errors, kept, label };
      });
      assert.match(r.errors.corrupt ?? "", /model\.safetensors.*(truncated|ends|short|bytes)/i);
      assert.match(r.errors.missing ?? "", /no-such-model\/config\.json|config\.json/);
      assert.equal(r.kept, false, "the corrupt file stayed in the cache");
      assert.ok(typeof r.label === "string");
      log(`errors: ${JSON.stringify(r.errors)}`);
    } finally {
      await ctx.page.unroute("**/corrupt/model.safetensors");
      await ctx.page.evaluate(async () => (await import("/pkg/index.js")).clearCache());
    }
  });

  test("a full storage quota still loads, and the warning says how much space was needed", { timeout: 5 * MINUTE }, async () => {
    const cdp = await ctx.page.context().newCDPSession(ctx.page);
    const origin = new URL(ctx.server.url).origin;
    await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 1_000_000 });
    try {
      const r = await ctx.page.evaluate(async () => {
        const { Model, cacheUsage } = await import("/pkg/index.js");
        const warnings = [];
        const m = await Model.load("/models/minilm/", { device: "cpu", onProgress: (p) => p.warning && warnings.push(p.warning) });
        const n = (await m.embed("no room")).length;
        m.dispose();
        const cache = await caches.open("webfm-models-v1");
        return { warnings, n, weightsCached: !!(await cache.match("/models/minilm/model.safetensors")), usage: await cacheUsage() };
      });
      assert.equal(r.n, 384);
      assert.equal(r.weightsCached, false);
      const w = r.warnings.find((x) => x.includes("model.safetensors"));
      assert.ok(w, `no warning about the weights: ${JSON.stringify(r.warnings)}`);
      const mb = (statSync(join(ROOT, ".cache", "models", "minilm", "model.safetensors")).size / 2 ** 20).toFixed(1);
      assert.ok(w.includes(`needs ${mb} MB`), `the warning does not say the ${mb} MB needed: ${w}`);
      log(`quota warning: ${w}`);
    } finally {
      await cdp.send("Storage.overrideQuotaForOrigin", { origin });
      await ctx.page.evaluate(async () => (await import("/pkg/index.js")).clearCache());
    }
  });
});
