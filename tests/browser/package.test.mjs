// The npm package as a web developer gets it: `npm pack` pkg/, install the
// tarball into a fresh Vite app (.cache/pkg-test/, vite from the repository's
// dev dependencies), `vite build` it with no webfm-specific configuration,
// serve dist/ and, in headless Chromium, classify and embed with a tiny BERT
// and generate with a tiny Qwen2 from the main thread (WebGPU and the CPU
// path) and classify in the package's Worker: the .wasm must resolve in all
// of them. Results against the PyTorch golden files.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { launch } from "./chromium.mjs";
import { golden, log, MINUTE, ROOT } from "./common.mjs";

const SCRATCH = join(ROOT, ".cache", "pkg-test");
const APP = join(SCRATCH, "app");

const MAIN_JS = `
import { Model, TextModel, init } from "webfm";
import { WorkerModel } from "webfm/worker";

window.run = async ({ device, texts, prompt }) => {
  const progress = [];
  await init({ onProgress: (p) => progress.push(p) });
  const enc = await Model.load("/models/tiny-bert-cls/", { device, cache: false });
  const scores = await enc.classify(texts);
  const embedding = Array.from(await enc.embed(texts[0]));
  const deviceKind = enc.info().deviceKind;
  enc.dispose();
  const lm = await TextModel.load("/models/tiny-qwen2/", { device, cache: false });
  const stream = lm.generate(prompt, { maxNewTokens: 8, ignoreEos: true });
  let text = "";
  for await (const piece of stream) text += piece;
  const stats = stream.stats();
  lm.dispose();
  const w = await WorkerModel.load("/models/tiny-bert-cls/", { device, cache: false });
  const workerScores = await w.classify(texts);
  const workerEmbedding = await w.embed(texts[0]);
  w.dispose();
  return { deviceKind, scores, embedding, text, ids: stats.ids, workerScores,
           workerEmbedding: Array.from(workerEmbedding), workerEmbeddingType: workerEmbedding.constructor.name,
           wasmProgress: progress.length };
};
document.querySelector("#state").textContent = "ready";
`;

describe("the npm package in a Vite app", { timeout: 20 * MINUTE }, () => {
  let server, browser, files;

  before(async () => {
    rmSync(SCRATCH, { recursive: true, force: true });
    mkdirSync(join(APP, "public", "models"), { recursive: true });
    const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", SCRATCH], { cwd: join(ROOT, "pkg"), encoding: "utf8" }));
    files = packed[0].files.map((f) => f.path);
    const tarball = join(SCRATCH, packed[0].filename);
    writeFileSync(join(APP, "package.json"), JSON.stringify({ name: "webfm-scratch-app", private: true, type: "module" }, null, 2));
    writeFileSync(join(APP, "index.html"), `<!doctype html><meta charset="utf-8"><title>scratch</title><p id="state">loading</p><script type="module" src="/main.js"></script>\n`);
    writeFileSync(join(APP, "main.js"), MAIN_JS);
    for (const m of ["tiny-bert-cls", "tiny-qwen2"]) cpSync(join(ROOT, "tests", "models", m), join(APP, "public", "models", m), { recursive: true });
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error", tarball], { cwd: APP, stdio: "inherit" });
    // vite resolves from the repository's node_modules (a parent folder); webfm from the app's.
    execFileSync(process.execPath, [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--logLevel", "warn"], { cwd: APP, stdio: "inherit" });
    server = await startServer({ port: 0, root: join(APP, "dist"), mounts: [["/", "."]] });
    browser = await launch({ webgpu: true });
  }, { timeout: 10 * MINUTE });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("the tarball holds the wrapper, the types, the Worker and the wasm", () => {
    for (const f of ["package.json", "index.js", "index.d.ts", "cache.js", "worker.js", "worker.d.ts", "worker-main.js", "webfm.js", "webfm_bg.wasm"]) {
      assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(", ")}`);
    }
    const assets = readdirSync(join(APP, "dist", "assets"));
    assert.ok(assets.some((a) => a.endsWith(".wasm")), `vite emitted no .wasm: ${assets.join(", ")}`);
    log(`tarball: ${files.length} files; dist/assets: ${assets.join(", ")}`);
  });

  for (const device of ["webgpu", "cpu"]) {
    test(`classify, embed and generate from the built app (${device}), and in its Worker`, { timeout: 5 * MINUTE }, async () => {
      const cls = golden("tiny_cls.json").models["tiny-bert-cls"];
      const cases = cls.cases.filter((c) => c.text_pair === undefined).slice(0, 3);
      const dec = golden("tiny_decoders.json").models["tiny-qwen2"].cases[0];
      const page = await browser.newPage();
      try {
        await page.goto(server.url);
        await page.waitForFunction(() => document.querySelector("#state")?.textContent === "ready", null, { timeout: 60_000 });
        const r = await page.evaluate((a) => window.run(a), { device, texts: cases.map((c) => c.text), prompt: dec.prompt });
        assert.equal(r.deviceKind, device);
        const labels = Object.values(cls.id2label);
        for (const [name, got] of [["main thread", r.scores], ["worker", r.workerScores]]) {
          cases.forEach((c, i) => {
            assert.equal(got[i][0].label, c.label, `${name}: top label of ${JSON.stringify(c.text)}`);
            for (const { label, score } of got[i]) assert.ok(Math.abs(score - c.scores[labels.indexOf(label)]) <= 1e-4, `${name} ${label}: ${score}`);
          });
        }
        assert.equal(r.workerEmbeddingType, "Float32Array");
        assert.deepEqual(r.workerEmbedding, r.embedding, "the Worker's embedding differs from the main thread's");
        assert.deepEqual(r.ids, dec.greedy_ids.slice(0, 8), "greedy ids differ from PyTorch's");
        assert.ok(r.text.length > 0);
        assert.ok(r.wasmProgress > 0, "init reported no progress for the .wasm");
      } finally {
        await page.close();
      }
    });
  }
});
