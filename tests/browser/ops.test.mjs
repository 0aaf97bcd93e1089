// Browser tests of the built wasm package (pkg/, made by scripts/build.sh) in
// headless Chromium: WebGPU on SwiftShader, the CPU path and the no-WebGPU
// case (the demo page has its own file, demo.test.mjs). Run: node --test tests/browser/
//
// SwiftShader emulates the GPU on the CPU and CI has 2 cores, so every test
// gets minutes, not seconds.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../../scripts/serve.mjs";
import { launch, openTestPage } from "./chromium.mjs";

const MINUTE = 60_000;
const log = (...a) => console.log(...a); // node --test shows stdout as "# ..." lines

// A small matmul with odd sizes and its reference computed in JS (f64).
const SMALL = (() => {
  const [m, k, n] = [3, 5, 7];
  const a = Array.from({ length: m * k }, (_, i) => ((i * 7) % 11) / 4 - 1.25);
  const b = Array.from({ length: k * n }, (_, i) => ((i * 5) % 13) / 6 - 1);
  const c = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      c.push(s);
    }
  return { m, k, n, a, b, c };
})();

/** Run SMALL on `device` inside the page; returns { device, shape, out } */
function smallMatmul(page, device) {
  return page.evaluate(async ({ device, s }) => {
    const { Context } = window.webfm;
    const ctx = await Context.create(device);
    try {
      const a = ctx.tensor(new Float32Array(s.a), [s.m, s.k]);
      const b = ctx.tensor(new Float32Array(s.b), [s.k, s.n]);
      const c = ctx.matmul(a, b);
      const out = Array.from(await c.toArray());
      const shape = Array.from(c.shape);
      c.free(); a.free(); b.free();
      return { device: ctx.device, shape, out };
    } finally {
      ctx.free();
    }
  }, { device, s: SMALL });
}

function assertSmall(r, label) {
  assert.deepEqual(r.shape, [SMALL.m, SMALL.n], `${label}: output shape`);
  const tol = 1e-5; // named tolerance: f32 vs f64 over K = 5 terms of size <= 2
  for (let i = 0; i < SMALL.c.length; i++) {
    const d = Math.abs(r.out[i] - SMALL.c[i]);
    assert.ok(d <= tol * Math.max(1, Math.abs(SMALL.c[i])),
      `${label}: C[${Math.floor(i / SMALL.n)}, ${i % SMALL.n}] = ${r.out[i]}, expected ${SMALL.c[i]} (|diff| ${d} > ${tol})`);
  }
}

function describeFailures(rep) {
  const bad = (rep.cases ?? []).filter((c) => !c.ok);
  return bad.length
    ? bad.map((c) => `  ${c.name}: ${c.detail}`).join("\n")
    : "(no failing case listed)";
}

describe("Chromium with WebGPU (SwiftShader)", { timeout: 20 * MINUTE }, () => {
  let server, browser, page;
  before(async () => {
    server = await startServer({ port: 0 });
    browser = await launch({ webgpu: true });
    page = await openTestPage(browser, server, { timeout: 5 * MINUTE });
  }, { timeout: 3 * MINUTE });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("the adapter is SwiftShader's fallback adapter", { timeout: 2 * MINUTE }, async () => {
    const { raw, info } = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      const raw = a && {
        vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description,
        isFallbackAdapter: a.info.isFallbackAdapter, features: [...a.features],
      };
      return { raw, info: await window.webfm.adapterInfo() };
    });
    log("navigator.gpu adapter:", JSON.stringify(raw));
    log("adapterInfo():", JSON.stringify(info));
    assert.ok(raw, "navigator.gpu.requestAdapter() gave null although --enable-unsafe-webgpu is set");
    assert.equal(info.available, true, `adapterInfo().available is false: ${info.reason}`);
    const text = [info.name, info.vendor, info.architecture, info.driver].join(" ");
    assert.ok(info.isFallbackAdapter === true || /swiftshader/i.test(text),
      `expected SwiftShader (isFallbackAdapter or a name matching /swiftshader/i), got ${JSON.stringify(info)}`);
    for (const k of ["maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupSizeX",
      "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupStorageSize", "maxComputeWorkgroupsPerDimension"])
      assert.ok(Number(info.limits?.[k]) > 0, `adapterInfo().limits.${k} missing: ${JSON.stringify(info.limits)}`);
    assert.ok(Array.isArray(info.features), "adapterInfo().features is not an array");
  });

  for (const device of ["webgpu", "cpu"]) {
    test(`selfTest("${device}") passes`, { timeout: 10 * MINUTE }, async () => {
      const t0 = Date.now();
      const rep = await page.evaluate((d) => window.webfm.selfTest(d, false), device);
      log(`selfTest(${device}): ${rep.passed} passed, ${rep.failed} failed in ${Date.now() - t0} ms on ${rep.adapter}`);
      assert.equal(rep.failed, 0, `selfTest("${device}") failed cases:\n${describeFailures(rep)}`);
      assert.ok(rep.passed > 0, `selfTest("${device}") ran no cases`);
    });

    test(`small matmul on ${device} matches a JS reference`, { timeout: 3 * MINUTE }, async () => {
      const r = await smallMatmul(page, device);
      assert.equal(r.device, device);
      assertSmall(r, device);
    });

    test(`bad input on ${device} throws readable errors`, { timeout: 3 * MINUTE }, async () => {
      const r = await page.evaluate(async (device) => {
        const { Context } = window.webfm;
        const ctx = await Context.create(device);
        const caught = (f) => {
          try {
            const v = f();
            v?.free?.();
            return { threw: false };
          } catch (e) {
            return { threw: true, isError: e instanceof Error, message: String(e?.message ?? e) };
          }
        };
        const a = ctx.tensor(new Float32Array(6), [2, 3]);
        const b = ctx.tensor(new Float32Array(20), [4, 5]);
        const matmul = caught(() => ctx.matmul(a, b));
        const badLen = caught(() => ctx.tensor(new Float32Array(5), [2, 3]));
        // The context must still work after the errors.
        const c = ctx.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
        const cc = ctx.matmul(c, c);
        const after = Array.from(await cc.toArray());
        cc.free(); c.free(); a.free(); b.free(); ctx.free();
        return { matmul, badLen, after };
      }, device);
      log(`${device} matmul error: ${r.matmul.message}`);
      log(`${device} tensor error: ${r.badLen.message}`);
      assert.ok(r.matmul.threw, "matmul of [2,3] by [4,5] did not throw");
      assert.ok(r.matmul.isError, `matmul threw a non-Error: ${r.matmul.message}`);
      assert.ok(r.matmul.message.includes("[2, 3]") && r.matmul.message.includes("[4, 5]"),
        `matmul error should name both shapes "[2, 3]" and "[4, 5]": ${r.matmul.message}`);
      assert.doesNotMatch(r.matmul.message, /unreachable|RuntimeError/, "a panic reached JS");
      assert.ok(r.badLen.threw, "tensor(Float32Array(5), [2,3]) did not throw");
      assert.ok(r.badLen.isError, `tensor threw a non-Error: ${r.badLen.message}`);
      assert.deepEqual(r.after, [7, 10, 15, 22], "the context is broken after an error");
    });
  }
});

describe("Chromium without WebGPU", { timeout: 10 * MINUTE }, () => {
  let server, browser, page;
  before(async () => {
    server = await startServer({ port: 0 });
    browser = await launch({ webgpu: false });
    page = await openTestPage(browser, server, { timeout: 5 * MINUTE });
  }, { timeout: 3 * MINUTE });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("navigator.gpu gives no adapter", async () => {
    const adapter = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
    assert.equal(adapter, false, "requestAdapter() gave an adapter without --enable-unsafe-webgpu");
  });

  test("adapterInfo() says unavailable, with a reason", async () => {
    const info = await page.evaluate(() => window.webfm.adapterInfo());
    log("adapterInfo():", JSON.stringify(info));
    assert.equal(info.available, false);
    assert.ok(typeof info.reason === "string" && info.reason.length > 0, "no reason given");
  });

  test('Context.create("webgpu") rejects with an Error naming WebGPU', async () => {
    const r = await page.evaluate(async () => {
      try {
        const ctx = await window.webfm.Context.create("webgpu");
        const d = ctx.device;
        ctx.free();
        return { rejected: false, device: d };
      } catch (e) {
        return { rejected: true, isError: e instanceof Error, message: String(e?.message ?? e) };
      }
    });
    log("error:", r.message);
    assert.ok(r.rejected, `Context.create("webgpu") resolved (device ${r.device})`);
    assert.ok(r.isError, `rejected with a non-Error: ${r.message}`);
    assert.match(r.message, /webgpu/i);
  });

  test('Context.create("auto") falls back to the CPU and computes', { timeout: 3 * MINUTE }, async () => {
    const r = await smallMatmul(page, "auto");
    assert.equal(r.device, "cpu");
    assertSmall(r, "auto (cpu)");
  });
});
