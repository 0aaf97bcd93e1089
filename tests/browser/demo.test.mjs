// The demo app (www/, served as by scripts/demo.sh) in headless Chromium, end
// to end through its DOM: every page's main flow with WebGPU (SwiftShader,
// `?device=webgpu`) and without it (the CPU path); the header's device choice
// and switch (a fine-tuned adapter moves with the model); a model loading only
// when its page is first opened; no network request once a page's model is
// loaded, training included; fine-tuning on the sample reviews (held-out
// accuracy above zero-shot, the loss chart, the adapter download, the Classify
// page's tuned mode, Stop, bad input); a broken and a corrupt weights file
// shown in their page while the other pages keep working; and a screenshot of
// each page (docs/demo-*.png).
//
// SwiftShader decodes ~0.3-0.5 tokens/s, so the chat on WebGPU is 4 tokens,
// and trains a few examples/s, so fine-tuning on WebGPU is 2 epochs of 16 reviews.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { launch } from "./chromium.mjs";
import { log, MINUTE, ROOT } from "./common.mjs";
import { assertBreadFirst, assertSportsFirst, CHAT, chat, classify, decode, expectStatus, finetune, FOOTBALL, hitRows, openTab, QUESTION, search, settle } from "./demo-pages.mjs";

const VIEWPORT = { width: 1000, height: 820 };

/** Every request the browser makes (pages and their Workers) while `f` runs, as "METHOD /path". */
async function requestsDuring(browser, f) {
  const seen = [];
  const on = (r) => seen.push(`${r.method()} ${new URL(r.url()).pathname}`);
  browser.on("request", on);
  try {
    await f();
    return seen;
  } finally {
    browser.off("request", on);
  }
}

/** Classifies `text` with the tuned classifier on the Classify page (open); returns the rows, best first. */
async function classifyTuned(page, text) {
  await expectStatus(page, "classify", ["ready"]);
  await page.check("#classify-mode-tuned"); // classifies the text shown again
  await expectStatus(page, "classify", ["ready"]);
  await page.fill("#classify-text", text);
  await page.click("#classify-run");
  await expectStatus(page, "classify", ["ready"]);
  const rows = await page.$$eval("#classify-results .label-row", (rs) => rs.map((r) => ({
    label: r.querySelector(".label").textContent,
    score: Number.parseFloat(r.querySelector(".score").textContent) / 100,
  })));
  log(`classify (tuned): ${rows.map((r) => `${r.label} ${r.score.toFixed(3)}`).join(", ")}`);
  return rows;
}

/** Clicks a download link; returns its suggested name and bytes. */
async function download(page, selector) {
  const [d] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const path = await d.path();
  return { name: d.suggestedFilename(), bytes: readFileSync(path) };
}

/**
 * A full-page screenshot as docs/demo-NAME.png. The committed file is only
 * rewritten with WEBFM_UPDATE_SCREENSHOT=1 (or when missing), so a test run
 * leaves the tree clean; otherwise it goes to target/browser-tests/.
 */
async function screenshot(page, name) {
  const committed = join(ROOT, "docs", `demo-${name}.png`);
  const path = process.env.WEBFM_UPDATE_SCREENSHOT || !existsSync(committed)
    ? committed : join(ROOT, "target", "browser-tests", `demo-${name}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await page.evaluate(() => document.activeElement?.blur()); // no focus ring in the picture
  await page.screenshot({ path, fullPage: true });
  log(`screenshot: ${path}`);
}

/** Starts the server and a browser before the describe()'s tests; `{server, browser, page}`. */
function useDemo({ webgpu }) {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer({ port: 0 });
    ctx.browser = await launch({ webgpu, viewport: VIEWPORT });
    ctx.page = await ctx.browser.firstPage();
    ctx.page.setDefaultTimeout(5 * MINUTE);
  }, { timeout: 3 * MINUTE });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.close();
  });
  return ctx;
}

describe("demo with WebGPU (SwiftShader)", { timeout: 20 * MINUTE }, () => {
  const ctx = useDemo({ webgpu: true });

  test("the header picks the CPU path on a fallback adapter; Kernels: WebGPU and CPU agree on the GEMM", { timeout: 5 * MINUTE }, async () => {
    const { page, server } = ctx;
    const requests = await requestsDuring(ctx.browser, async () => {
      await page.goto(`${server.url}#kernels`);
      await expectStatus(page, "kernels", ["agree"]);
    });
    const header = await page.evaluate(() => ({
      device: document.querySelector("#device").value,
      webgpuOption: !document.querySelector('#device option[value="webgpu"]').disabled,
      info: document.querySelector("#device-info").textContent,
    }));
    log(`header: ${header.device} · ${header.info}`);
    log(`kernels: ${await page.textContent("#compare")}`);
    assert.equal(header.device, "cpu", "SwiftShader is a software adapter: the CPU path is the default");
    assert.ok(header.webgpuOption, "WebGPU can be chosen: there is an adapter");
    assert.match(header.info, /^CPU path \(WebAssembly SIMD\)/);
    assert.match(header.info, /swiftshader/i, "the header names the adapter");
    assert.match(header.info, /software \(fallback\)/);
    assert.match(header.info, /shader-f16: (yes|no)/);
    assert.match(header.info, /max storage binding: \d+(\.\d)? [KMG]iB/);
    assert.deepEqual(requests.filter((r) => r.includes("/models/")), [], "the Kernels page loads no model");
    await screenshot(page, "kernels");
  });

  test("?device=webgpu: Embed & search on WebGPU ranks the bread sentence first", { timeout: 5 * MINUTE }, async () => {
    const { page, server } = ctx;
    await page.goto(`${server.url}?device=webgpu#search`);
    await expectStatus(page, "search", ["ready"]);
    assert.equal(await page.inputValue("#device"), "webgpu");
    assert.match(await page.textContent("#device-info"), /^WebGPU.*swiftshader/i);
    const device = await page.textContent("#search-device");
    log(`search: ${device} · ${await page.textContent("#search-index")}`);
    assert.match(device, /^WebGPU · /);
    assert.equal(await page.inputValue("#search-query"), "How do I bake bread?");
    assertBreadFirst(await page.$$eval("#search-results .hit", hitRows));
  });

  test("Classify on WebGPU ranks sports first, with the search page's model (no second download)", { timeout: 5 * MINUTE }, async () => {
    const { page } = ctx;
    let rows;
    const requests = await requestsDuring(ctx.browser, async () => {
      await openTab(page, "classify");
      rows = await classify(page, ...FOOTBALL);
    });
    assert.deepEqual(requests, [], "opening Classify after Search made requests");
    assert.match(await page.textContent("#classify-device"), /^WebGPU · /);
    assertSportsFirst(rows);
  });

  test("Fine-tune on WebGPU: a 2-epoch head run on 16 of the sample reviews completes and shows its held-out accuracy", { timeout: 6 * MINUTE }, async () => {
    const { page } = ctx;
    await openTab(page, "finetune");
    await expectStatus(page, "finetune", ["ready"]);
    const sample = await page.inputValue("#finetune-examples");
    await page.fill("#finetune-examples", sample.split("\n").slice(0, 16).join("\n")); // both labels are among them
    const r = await finetune(page, { method: "head", epochs: 2 });
    await page.fill("#finetune-examples", sample);
    assert.match(r.device, /^WebGPU · /);
    assert.equal(r.points, 4, "one point per step: 16 examples in batches of 8, 2 epochs");
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1, `held-out accuracy ${r.accuracy}`);
    assert.ok(r.zeroShot >= 0 && r.zeroShot <= 1, `zero-shot accuracy ${r.zeroShot}`);
    assert.ok(r.downloads, "no download links after the run");
  });

  test("Chat on WebGPU: greedy, 4 tokens, gives PyTorch's first 4 tokens", { timeout: 10 * MINUTE }, async () => {
    const { page } = ctx;
    await openTab(page, "chat");
    await expectStatus(page, "chat", ["ready"]);
    const r = await chat(page, QUESTION, { temperature: 0, maxTokens: 4 });
    log(`chat: ${r.model} · ${r.speed} · ${JSON.stringify(r.answer)}`);
    const expected = decode(CHAT.greedy_ids.slice(0, 4));
    assert.ok(expected.length > 0 && CHAT.greedy_text.startsWith(expected), `decoding the golden ids gives its text: ${JSON.stringify(expected)}`);
    assert.match(r.model, /WebGPU/);
    assert.deepEqual(r.turns, [["msg user", QUESTION], ["msg assistant", expected]]);
    assert.match(r.speed, /^4 tokens · .* · length$/);
  });

  test("switching the header to CPU reloads the opened pages' models there, the fine-tuned adapter too; Chat gives PyTorch's 32-token answer", { timeout: 8 * MINUTE }, async () => {
    const { page } = ctx;
    await page.selectOption("#device", "cpu");
    for (const card of ["search", "classify", "finetune", "chat"]) await expectStatus(page, card, ["ready"]);
    const r = await page.evaluate(() => ({
      url: location.href,
      info: document.querySelector("#device-info").textContent,
      search: document.querySelector("#search-device").textContent,
      classify: document.querySelector("#classify-device").textContent,
      finetune: document.querySelector("#finetune-device").textContent,
      chat: document.querySelector("#chat-model").textContent,
      log: document.querySelectorAll("#chat-log .msg").length,
      tunedMode: document.querySelector("#classify-mode").hidden ? null : document.querySelector("#classify-mode-tuned-text").textContent,
    }));
    log(`after the switch: ${JSON.stringify(r)}`);
    assert.match(new URL(r.url).search, /device=cpu/, "the URL keeps the choice");
    assert.match(r.info, /^CPU path \(WebAssembly SIMD\)/);
    for (const k of ["search", "classify", "finetune", "chat"]) assert.match(r[k], /CPU path \(WebAssembly SIMD\)/, `${k} did not move to the CPU path`);
    assert.equal(r.log, 0, "a new model starts a new conversation");
    assert.equal(r.tunedMode, "tuned classifier (labels: positive, negative)", "the adapter trained on WebGPU was not loaded into the CPU model");

    const answer = await chat(page, QUESTION, { temperature: 0, maxTokens: 32 });
    log(`chat: ${answer.speed}`);
    assert.deepEqual(answer.turns, [["msg user", QUESTION], ["msg assistant", CHAT.greedy_text]]);
    assert.equal(decode(CHAT.greedy_ids), CHAT.greedy_text, "the test's decoder reads the golden ids as PyTorch did");
    // "reply as JSON": constrained decoding, so the reply is a JSON object (or its start, when cut by the token budget).
    await page.check("#chat-json");
    const json = await chat(page, "Give your name and age as JSON.", { temperature: 0, maxTokens: 48 });
    await page.uncheck("#chat-json");
    log(`chat as JSON: ${json.answer} (${json.speed})`);
    if (/· eos$/.test(json.speed)) assert.equal(typeof JSON.parse(json.answer), "object", json.answer);
    else assert.ok(json.answer.startsWith("{"), json.answer);
    await screenshot(page, "chat");
    await openTab(page, "classify");
    await screenshot(page, "classify");
    await openTab(page, "search");
    assertBreadFirst(await search(page, "How do I bake bread?"));
    await screenshot(page, "search");
  });
});

describe("demo without WebGPU", { timeout: 15 * MINUTE }, () => {
  const ctx = useDemo({ webgpu: false });

  test("only the visible page's model loads: Chat downloads SmolLM2 alone and gives PyTorch's greedy answer", { timeout: 5 * MINUTE }, async () => {
    const { page, server } = ctx;
    const requests = await requestsDuring(ctx.browser, async () => {
      await page.goto(`${server.url}#chat`);
      await expectStatus(page, "chat", ["ready"]);
    });
    const header = await page.evaluate(() => ({
      device: document.querySelector("#device").value,
      webgpuOption: !document.querySelector('#device option[value="webgpu"]').disabled,
      info: document.querySelector("#device-info").textContent,
    }));
    log(`header: ${header.device} · ${header.info}`);
    assert.equal(header.device, "cpu");
    assert.equal(header.webgpuOption, false, "WebGPU cannot be chosen without an adapter");
    assert.match(header.info, /^CPU path \(WebAssembly SIMD\)WebGPU unavailable/);
    // The Worker's download is seen here, so the privacy test below is not blind to Workers.
    assert.ok(requests.includes("GET /models/smollm2/model.safetensors"), `SmolLM2's weights were not requested: ${requests.join(", ")}`);
    assert.deepEqual(requests.filter((r) => r.includes("/models/minilm/")), [], "the Chat page downloaded MiniLM");

    const r = await chat(page, QUESTION, { temperature: 0, maxTokens: 32 });
    log(`chat: ${r.model} · ${r.speed}`);
    assert.match(r.model, /CPU path/);
    assert.deepEqual(r.turns, [["msg user", QUESTION], ["msg assistant", CHAT.greedy_text]]);
    assert.match(r.speed, /^32 tokens · .* · length$/);
  });

  test("Chat: Stop mid-answer says stopped, and the page stays responsive", { timeout: 3 * MINUTE }, async () => {
    const { page } = ctx;
    await page.fill("#chat-temperature", "0.7");
    await page.fill("#chat-max", "400");
    await page.fill("#chat-input", "Tell me a long story about a dragon.");
    await page.click("#chat-send");
    await page.waitForFunction(() => {
      const answers = document.querySelectorAll("#chat-log .msg.assistant");
      return answers.length === 2 && answers[1].textContent.length > 0 && document.querySelector("#chat-status").textContent === "generating";
    }, null, { polling: 50 });
    await page.click("#chat-stop");
    const status = await settle(page, "chat", ["stopped", "done"]);
    const speed = await page.textContent("#chat-speed");
    log(`chat stop: ${status} · ${speed}`);
    assert.equal(status, "stopped", speed);
    assert.match(speed, /cancelled$/);
  });

  test("Embed & search on the CPU path ranks the bread sentence first", { timeout: 3 * MINUTE }, async () => {
    const { page } = ctx;
    await openTab(page, "search");
    await expectStatus(page, "search", ["ready"]);
    assert.match(await page.textContent("#search-device"), /^CPU path \(WebAssembly SIMD\) · /);
    assertBreadFirst(await search(page, "How do I bake bread?"));
  });

  test("Classify on the CPU path ranks sports first", { timeout: 3 * MINUTE }, async () => {
    const { page } = ctx;
    await openTab(page, "classify");
    assertSportsFirst(await classify(page, ...FOOTBALL));
  });

  test("Fine-tune on the CPU path: a head on the sample reviews beats zero-shot on the held-out ones, the adapter downloads, Classify's tuned mode uses it; no request meanwhile", { timeout: 5 * MINUTE }, async () => {
    const { page } = ctx;
    let r, defaults, rows;
    const requests = await requestsDuring(ctx.browser, async () => {
      await openTab(page, "finetune"); // the model is Search's and Classify's: nothing to download
      await expectStatus(page, "finetune", ["ready"]);
      defaults = await page.evaluate(() => ({
        method: document.querySelector("#finetune-method").value,
        epochs: document.querySelector("#finetune-epochs").value,
        lr: document.querySelector("#finetune-lr").value,
        lines: document.querySelector("#finetune-examples").value.split("\n").length,
        summary: document.querySelector("#finetune-summary").textContent,
      }));
      r = await finetune(page);
      await screenshot(page, "finetune");
      await openTab(page, "classify");
      rows = await classifyTuned(page, "I absolutely loved it, wonderful!");
    });
    // The package's defaults: lr 0.01 for a head, epochs for 64 steps (48 examples: 6 steps per epoch, 11 epochs).
    assert.deepEqual(defaults, { method: "head", epochs: "11", lr: "0.01", lines: 48, summary: defaults.summary });
    assert.match(defaults.summary, /^48 examples · 2 labels: positive 24, negative 24 · /);
    assert.match(r.device, /^CPU path \(WebAssembly SIMD\) · /);
    assert.equal(r.points, 66, "one point per step: 48 examples in batches of 8, 11 epochs");
    assert.equal(r.step, "66 / 66");
    assert.ok(r.accuracy >= 0.8, `held-out accuracy ${r.accuracy} (${r.detail})`);
    assert.ok(r.accuracy > r.zeroShot, `fine-tuned ${r.accuracy} is no better than zero-shot ${r.zeroShot}`);
    assert.equal(r.tried.length, 2, "the try-it text was not classified");
    assert.deepEqual(rows.map((x) => x.label).sort(), ["negative", "positive"]);
    assert.equal(rows[0].label, "positive", JSON.stringify(rows));
    assert.equal(await page.textContent("#classify-title"), "Fine-tuned classification");
    assert.deepEqual(requests, [], `requests while training and classifying: ${requests.join(", ")}`);

    // Zero-shot is still there, and unchanged by the adapter.
    await page.check("#classify-mode-zeroshot");
    assertSportsFirst(await classify(page, ...FOOTBALL));

    // The adapter as PEFT's two files.
    await openTab(page, "finetune");
    const weights = await download(page, "#finetune-download");
    assert.equal(weights.name, "adapter_model.safetensors");
    const n = Number(weights.bytes.readBigUInt64LE(0));
    assert.ok(n > 0 && 8 + n <= weights.bytes.length, `header length ${n} of a ${weights.bytes.length}-byte file`);
    const header = JSON.parse(weights.bytes.subarray(8, 8 + n).toString("utf8"));
    const head = header["base_model.model.classifier.weight"];
    assert.ok(head, `no classifier weight in ${Object.keys(header).join(", ")}`);
    assert.deepEqual(head.shape, [2, 384]);
    const end = Math.max(...Object.entries(header).filter(([k]) => k !== "__metadata__").map(([, t]) => t.data_offsets[1]));
    assert.equal(8 + n + end, weights.bytes.length, "the tensors end where the file does");
    const config = await download(page, "#finetune-download-config");
    assert.equal(config.name, "adapter_config.json");
    assert.equal(JSON.parse(config.bytes.toString("utf8")).peft_type, "LORA");
    log(`download: ${weights.bytes.length} bytes, tensors ${Object.keys(header).filter((k) => k !== "__metadata__").join(", ")}`);
  });

  test("Fine-tune: bad lines and a single label are readable errors and the page keeps working; Stop during head + LoRA says stopped", { timeout: 4 * MINUTE }, async () => {
    const { page } = ctx;
    const sample = await page.inputValue("#finetune-examples");
    const panel = () => page.evaluate(() => ({
      visible: !document.querySelector("#finetune-error").hidden,
      title: document.querySelector("#finetune-error-title").textContent,
      text: document.querySelector("#finetune-error-text").textContent,
      train: !document.querySelector("#finetune-train").disabled,
    }));
    for (const [lines, pattern] of [
      ["positive: Loved every minute.\nnegative: Broke on day one.\nthis line has no label", /^line 3: expected "label: text", found "this line has no label" \(no colon\)$/],
      ["positive: Loved every minute.\n\npositive: Would buy again.", /^all 2 examples are labelled "positive": a classifier needs at least two labels$/],
      ["positive: Loved every minute.\nnegative:", /^line 2: there is no text after "negative:"$/],
    ]) {
      await page.fill("#finetune-examples", lines);
      await page.click("#finetune-train");
      const status = await settle(page, "finetune", []);
      const p = await panel();
      log(`finetune input error: ${p.text}`);
      assert.match(status, /^error: /);
      assert.ok(p.visible, "the error panel is hidden");
      assert.equal(p.title, "Cannot train on these examples");
      assert.match(p.text, pattern);
      assert.ok(p.train, "Train is disabled after an input error");
    }
    await page.fill("#finetune-examples", sample);

    await page.selectOption("#finetune-method", "head+lora");
    assert.deepEqual([await page.inputValue("#finetune-epochs"), await page.inputValue("#finetune-lr")], ["11", "0.003"], "head + LoRA's settings");
    // A real click needs a few of the page's turns between steps (~0.5 s each
    // here) to land, so the run is long enough that Stop clearly cuts it short.
    await page.fill("#finetune-epochs", "6");
    await page.click("#finetune-train");
    await page.waitForFunction(() => Number(document.querySelector("#finetune-chart polyline.loss")?.dataset.steps) >= 2, null, { polling: 50 });
    await page.click("#finetune-stop");
    const status = await settle(page, "finetune", ["stopped", "done"]);
    const r = await page.evaluate(() => ({
      steps: document.querySelector("#finetune-steps-label").textContent,
      points: Number(document.querySelector("#finetune-chart polyline.loss").dataset.steps),
      accuracy: Number.parseFloat(document.querySelector("#finetune-accuracy").textContent) / 100,
      label: document.querySelector("#finetune-accuracy-label").textContent,
      error: document.querySelector("#finetune-error").hidden ? "" : document.querySelector("#finetune-error").textContent,
    }));
    log(`finetune stop: ${status} · ${r.steps} · accuracy ${r.accuracy}`);
    assert.equal(status, "stopped", r.error);
    assert.match(r.steps, /^stopped after \d+ of 36 steps/);
    assert.ok(r.points >= 2 && r.points < 36, `${r.points} steps drawn`);
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1, "a stopped run is evaluated too");
    assert.equal(r.label, "fine-tuned (head+lora)");
    await page.selectOption("#finetune-method", "head");
  });

  test("Kernels without WebGPU: the GEMM runs on the CPU path alone", { timeout: 3 * MINUTE }, async () => {
    const { page } = ctx;
    await openTab(page, "kernels");
    await expectStatus(page, "kernels", ["cpu only"]);
    const r = await page.evaluate(() => ({
      adapter: document.querySelector("#adapter").textContent,
      webgpu: document.querySelector("#result-webgpu .r-describe").textContent,
      cpu: document.querySelector("#result-cpu .r-values").textContent,
    }));
    assert.match(r.adapter, /WebGPU unavailable/);
    assert.match(r.webgpu, /WebGPU unavailable/);
    const values = r.cpu.trim().split(/\s+/).map(Number);
    assert.ok(values.length === 4 && values.every(Number.isFinite), `C[0, 0..] on the CPU: ${r.cpu}`);
  });

  test("once loaded, searching, classifying and chatting make no network request", { timeout: 3 * MINUTE }, async () => {
    const { page } = ctx;
    const requests = await requestsDuring(ctx.browser, async () => {
      await openTab(page, "search");
      await search(page, "a private query about my health");
      await openTab(page, "classify");
      await classify(page, "My bank charged me twice for the same card payment.", "finance, sports, cooking");
      await openTab(page, "chat");
      await chat(page, "Say hello.", { temperature: 0, maxTokens: 8 });
    });
    assert.deepEqual(requests, [], `requests after loading: ${requests.join(", ")}`);
  });

  test("a broken and then a corrupt weights file show a readable error on Search; Chat keeps working; Search recovers", { timeout: 5 * MINUTE }, async () => {
    const { page, server } = ctx;
    const weights = readFileSync(join(ROOT, ".cache", "models", "minilm", "model.safetensors"));
    // The cached copy would be served without a request: start from an empty cache.
    await page.evaluate(async () => (await import("/pkg/index.js")).clearCache());
    let served = 0;
    await page.route("**/models/minilm/model.safetensors", (route) => {
      served++;
      if (served === 1) return route.fulfill({ status: 404, contentType: "text/plain", body: "not found" });
      if (served === 2) return route.fulfill({ status: 200, contentType: "application/octet-stream", body: weights.subarray(0, 1_000_000) });
      return route.continue();
    });
    try {
      await page.goto("about:blank");
      await page.goto(`${server.url}#search`);
      const failures = [];
      for (const [step, pattern] of [["404", /\/models\/minilm\/model\.safetensors: HTTP 404/], ["truncated", /model\.safetensors: tensor .*: expected .*, found 1000000 bytes: the file is truncated/]]) {
        if (step === "truncated") await page.click("#search-retry");
        const status = await settle(page, "search", ["ready"]);
        const panel = await page.evaluate(() => ({
          visible: !document.querySelector("#search-error").hidden,
          title: document.querySelector("#search-error-title").textContent,
          text: document.querySelector("#search-error-text").textContent,
          searchEnabled: !document.querySelector("#search-run").disabled,
        }));
        log(`${step}: ${status}`);
        assert.match(status, /^error: /, `the ${step} weights did not fail the load`);
        assert.match(status, pattern);
        assert.ok(panel.visible, "the error panel is hidden");
        assert.equal(panel.title, "Could not load all-MiniLM-L6-v2 on the CPU path");
        assert.match(panel.text, pattern);
        assert.doesNotMatch(panel.text, /unreachable|RuntimeError|undefined/, "a panic or a JS slip reached the page");
        assert.equal(panel.searchEnabled, false, "Search is enabled without a model");
        failures.push(step);
      }
      assert.deepEqual(failures, ["404", "truncated"]);

      // The other pages do not depend on MiniLM.
      await openTab(page, "chat");
      await expectStatus(page, "chat", ["ready"]);
      const r = await chat(page, QUESTION, { temperature: 0, maxTokens: 8 });
      assert.equal(r.answer, decode(CHAT.greedy_ids.slice(0, 8)));
      assert.equal(await page.evaluate(() => document.querySelector("#error").hidden), true, "the app's error panel is showing");
    } finally {
      await page.unroute("**/models/minilm/model.safetensors");
    }
    // With the real file back, Try again loads it (the corrupt copy was not kept in the cache).
    await openTab(page, "search");
    await page.click("#search-retry");
    await expectStatus(page, "search", ["ready"]);
    assertBreadFirst(await page.$$eval("#search-results .hit", hitRows));
  });
});
