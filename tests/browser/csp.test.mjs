// The demo (www/) and the package under a strict Content-Security-Policy
// (serve.mjs's STRICT_CSP: no eval or `new Function`, no inline script or
// style, Workers, scripts and fetches from the origin only, and
// 'wasm-unsafe-eval' to compile the .wasm), in headless Chromium: every demo
// page does its main job (on the CPU path, `?device=cpu`, with small budgets;
// the Kernels page runs its GEMM on WebGPU too), and the package's classes
// load and run on the main thread and in its Worker, against the golden
// files; no violation may be reported meanwhile. A first test shows the
// policy is in force and that a violation, in the page or in a Worker, is seen;
// a last one that none was reported between the tests either.
//
// A violation is a `securitypolicyviolation` event (listened for in the page
// before its scripts run, and in each Worker as soon as it is attached) or a
// console message that names the policy. The policy is the brief's with
// `img-src blob:` left out: nothing needs it (the adapter download is a
// download, which no directive governs).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, STRICT_CSP } from "../../scripts/serve.mjs";
import { launch } from "./chromium.mjs";
import { golden, log, MINUTE } from "./common.mjs";
import { assertBreadFirst, assertSportsFirst, CHAT, chat, classify, decode, expectStatus, finetune, FOOTBALL, openTab, QUESTION, search } from "./demo-pages.mjs";

/** Collects the violations reported in `browser`'s pages and their Workers; returns the growing list. */
function watchViolations(browser) {
  const seen = [];
  // Runs in every document before its own scripts (DevTools' injection is exempt from the policy).
  browser.addInitScript(() => addEventListener("securitypolicyviolation", (e) =>
    console.error(`CSP violation: ${e.effectiveDirective} refused ${e.blockedURI || "inline"} at ${e.sourceFile || "?"}:${e.lineNumber}`)));
  const hook = (page) => {
    // Console messages of the page's Workers arrive here too.
    page.on("console", (m) => {
      const text = m.text();
      if (/CSP violation|Content.Security.Policy/i.test(text)) seen.push(text.split("\n")[0]);
    });
    page.on("worker", (w) => w.evaluate(() => self.addEventListener("securitypolicyviolation", (e) =>
      console.error(`CSP violation in a Worker: ${e.effectiveDirective} refused ${e.blockedURI || "inline"} at ${e.sourceFile || "?"}:${e.lineNumber}`))).catch(() => {}));
  };
  browser.pages().forEach(hook);
  browser.on("page", hook);
  return seen;
}

describe("the demo and the package under a strict Content-Security-Policy", { timeout: 8 * MINUTE }, () => {
  let server, browser, page, seen;
  let claimed = 0; // seen[0..claimed) were checked by a test
  const unclaimed = []; // reported between the tests

  /** Runs `f`, then returns the violations reported meanwhile (after a moment for the late ones). */
  async function violationsDuring(f) {
    unclaimed.push(...seen.slice(claimed));
    const from = seen.length;
    try {
      await f();
      await page.waitForTimeout(300);
    } finally {
      claimed = seen.length;
    }
    return seen.slice(from);
  }

  before(async () => {
    server = await startServer({ port: 0, headers: { "Content-Security-Policy": STRICT_CSP } });
    browser = await launch({ webgpu: true });
    seen = watchViolations(browser);
    page = await browser.firstPage();
    page.setDefaultTimeout(3 * MINUTE);
    await page.goto(`${server.url}?device=cpu#kernels`); // what it reports is the last test's
  }, { timeout: 2 * MINUTE });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("the policy is in force: an inline script, an inline style, a blob: Worker and a Worker's fetch elsewhere are refused and seen", { timeout: MINUTE }, async () => {
    for (const path of ["", "pkg/worker-main.js", "pkg/webfm_bg.wasm", "models/minilm/config.json"]) {
      const r = await fetch(new URL(path, server.url), { method: "HEAD" });
      assert.equal(r.headers.get("content-security-policy"), STRICT_CSP, `/${path}`);
    }
    const v = await violationsDuring(async () => {
      await page.evaluate(() => {
        document.body.append(Object.assign(document.createElement("script"), { textContent: "window.inlineRan = true" }));
        document.body.append(Object.assign(document.createElement("div"), { id: "styled" }));
        document.querySelector("#styled").setAttribute("style", "color: red");
        try {
          new Worker(URL.createObjectURL(new Blob(["postMessage(1)"], { type: "text/javascript" })));
        } catch {}
      });
      // A Worker of the package, then a request from inside it to another origin.
      await page.evaluate(async () => {
        const { WorkerModel } = await import("/pkg/worker.js");
        window.probe = await WorkerModel.load("/tests/models/tiny-bert-cls/", { device: "cpu", cache: false });
      });
      const worker = page.workers().find((w) => w.url().endsWith("/pkg/worker-main.js"));
      assert.ok(worker, `no package Worker among ${page.workers().map((w) => w.url()).join(", ")}`);
      await worker.evaluate(() => fetch("http://127.0.0.2:9/").catch(() => {}));
      await page.evaluate(() => window.probe.dispose());
    });
    log(`violations seen:\n  ${v.join("\n  ")}`);
    assert.equal(await page.evaluate(() => window.inlineRan), undefined, "the inline script ran");
    const expected = [
      ["the inline script", /^CSP violation: script-src-elem refused inline/, /^Executing inline script violates/],
      ["the style attribute", /^CSP violation: style-src-attr refused inline/, /^Applying inline style violates/],
      ["the blob: Worker", /^CSP violation: worker-src refused blob/, /^Creating a worker from 'blob:/],
      ["the Worker's fetch", /^CSP violation in a Worker: connect-src refused http:\/\/127\.0\.0\.2:9/, /^Connecting to 'http:\/\/127\.0\.0\.2:9\/' violates/],
    ];
    for (const [what, event] of expected) assert.ok(v.some((line) => event.test(line)), `${what} was not seen: ${v.join(" | ")}`);
    const others = v.filter((line) => !expected.some(([, event, message]) => event.test(line) || message.test(line)));
    assert.deepEqual(others, [], "violations besides the deliberate ones");
  });

  test("Kernels: the GEMM on WebGPU and on the CPU path agree", { timeout: 2 * MINUTE }, async () => {
    const v = await violationsDuring(async () => {
      await page.goto(`${server.url}?device=cpu#kernels`);
      await expectStatus(page, "kernels", ["agree"]);
    });
    log(`kernels: ${await page.textContent("#compare")}`);
    assert.deepEqual(v, []);
  });

  test("Embed & search: all-MiniLM-L6-v2 loads (through the Cache API), indexes and ranks the bread sentence first", { timeout: 2 * MINUTE }, async () => {
    let hits;
    const v = await violationsDuring(async () => {
      await openTab(page, "search");
      await expectStatus(page, "search", ["ready"]);
      hits = await search(page, "How do I bake bread?");
    });
    assert.match(await page.textContent("#search-device"), /^CPU path/);
    assertBreadFirst(hits);
    assert.deepEqual(v, []);
  });

  test("Classify: zero-shot ranks sports first", { timeout: MINUTE }, async () => {
    let rows;
    const v = await violationsDuring(async () => {
      await openTab(page, "classify");
      rows = await classify(page, ...FOOTBALL);
    });
    assertSportsFirst(rows);
    assert.deepEqual(v, []);
  });

  test("Fine-tune: a 2-epoch head on 16 reviews trains, draws its loss chart, and its adapter downloads", { timeout: 2 * MINUTE }, async () => {
    let r, file;
    const v = await violationsDuring(async () => {
      await openTab(page, "finetune");
      await expectStatus(page, "finetune", ["ready"]);
      const sample = await page.inputValue("#finetune-examples");
      await page.fill("#finetune-examples", sample.split("\n").slice(0, 16).join("\n"));
      r = await finetune(page, { method: "head", epochs: 2 });
      await page.fill("#finetune-examples", sample);
      const [d] = await Promise.all([page.waitForEvent("download"), page.click("#finetune-download")]);
      file = { name: d.suggestedFilename(), path: await d.path() };
    });
    assert.equal(r.points, 4, "one point per step: 16 examples in batches of 8, 2 epochs");
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1, `held-out accuracy ${r.accuracy}`);
    assert.ok(r.downloads, "no download links after the run");
    assert.equal(file.name, "adapter_model.safetensors");
    assert.deepEqual(v, []);
  });

  test("Chat: SmolLM2 in the package's Worker streams PyTorch's first 4 greedy tokens", { timeout: 2 * MINUTE }, async () => {
    let r;
    const v = await violationsDuring(async () => {
      await openTab(page, "chat");
      await expectStatus(page, "chat", ["ready"]);
      r = await chat(page, QUESTION, { temperature: 0, maxTokens: 4 });
    });
    log(`chat: ${r.speed} · ${JSON.stringify(r.answer)}`);
    assert.deepEqual(r.turns, [["msg user", QUESTION], ["msg assistant", decode(CHAT.greedy_ids.slice(0, 4))]]);
    assert.deepEqual(v, []);
  });

  /** Runs the package's `kind` ("encoder" or "decoder") on the main thread and in its Worker, in the CSP'd page. */
  const runPackage = (kind, args) => page.evaluate(async ({ kind, texts, prompt }) => {
    const { Model, TextModel } = await import("/pkg/index.js");
    const { WorkerModel, WorkerTextModel } = await import("/pkg/worker.js");
    const out = {};
    for (const [where, cls] of kind === "encoder" ? [["main", Model], ["worker", WorkerModel]] : [["main", TextModel], ["worker", WorkerTextModel]]) {
      const m = await cls.load(kind === "encoder" ? "/tests/models/tiny-bert-cls/" : "/tests/models/tiny-qwen2/", { device: "cpu" });
      try {
        if (kind === "encoder") out[where] = { scores: await m.classify(texts), embedding: Array.from(await m.embed(texts[0])) };
        else {
          const it = m.generate(prompt, { maxNewTokens: 8, ignoreEos: true });
          let text = "";
          for await (const piece of it) text += piece;
          out[where] = { text, ids: Array.from(it.stats().ids) };
        }
      } finally {
        m.dispose();
      }
    }
    return out;
  }, { kind, ...args });

  test("the package: tiny BERT classifies as PyTorch on the main thread and in its Worker", { timeout: MINUTE }, async () => {
    const cls = golden("tiny_cls.json").models["tiny-bert-cls"];
    const cases = cls.cases.filter((c) => c.text_pair === undefined).slice(0, 3);
    const labels = Object.values(cls.id2label);
    let r;
    const v = await violationsDuring(async () => {
      r = await runPackage("encoder", { texts: cases.map((c) => c.text) });
    });
    for (const where of ["main", "worker"]) {
      cases.forEach((c, i) => {
        assert.equal(r[where].scores[i][0].label, c.label, `${where}: top label of ${JSON.stringify(c.text)}`);
        for (const { label, score } of r[where].scores[i]) assert.ok(Math.abs(score - c.scores[labels.indexOf(label)]) <= 1e-4, `${where} ${label}: ${score}`);
      });
    }
    assert.deepEqual(r.worker.embedding, r.main.embedding, "the Worker's embedding differs from the main thread's");
    assert.deepEqual(v, []);
  });

  test("the package: tiny Qwen2 generates PyTorch's greedy tokens on the main thread and in its Worker", { timeout: MINUTE }, async () => {
    const dec = golden("tiny_decoders.json").models["tiny-qwen2"].cases[0];
    let r;
    const v = await violationsDuring(async () => {
      r = await runPackage("decoder", { prompt: dec.prompt });
    });
    for (const where of ["main", "worker"]) assert.deepEqual(r[where].ids, dec.greedy_ids.slice(0, 8), `${where}: greedy ids`);
    assert.deepEqual(v, []);
  });

  test("no violation was reported between the tests (the first page load's included)", () => {
    unclaimed.push(...seen.slice(claimed));
    assert.deepEqual(unclaimed, []);
  });
});
