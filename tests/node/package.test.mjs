// The npm package in Node.js (issue 20, item 6): `npm pack` pkg/, install the
// tarball into a scratch project (.cache/node-test/), and in a plain `node`
// process load a tiny Qwen2 from a folder path and a tiny BERT by id (from
// `env.localModelPath`, and from the test server laid out like a hub via
// `env.remoteHost`), on the CPU path (Node has no WebGPU here): greedy ids
// and class scores against the PyTorch golden files; constrained decoding and
// the chat API's errors work there too.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { golden, MINUTE, ROOT } from "../browser/common.mjs";

const SCRATCH = join(ROOT, ".cache", "node-test");
const DEC = golden("tiny_decoders.json").models["tiny-qwen2"].cases[0];
const CLS = golden("tiny_cls.json").models["tiny-bert-cls"];

const SCRIPT = `
import { TextModel, Model, env } from "webfm";
const [models, hub] = process.argv.slice(2);
const out = {};
const events = [];
const lm = await TextModel.load(models + "/tiny-qwen2", { onProgress: (p) => events.push(p.status) });
const it = lm.generate(${JSON.stringify(DEC.prompt_ids)}, { maxNewTokens: ${DEC.greedy_ids.length}, ignoreEos: true });
for await (const _ of it);
out.ids = it.stats().ids;
out.device = lm.info().deviceKind;
out.statuses = [...new Set(events)];
const j = lm.generate("hi", { maxNewTokens: 40, jsonSchema: { type: "object", properties: { pick: { enum: ["x", "y", "z"] }, n: { type: "integer", minimum: 0, maximum: 9 } }, required: ["pick", "n"], additionalProperties: false } });
out.json = "";
for await (const piece of j) out.json += piece;
out.chatError = await lm.chat.completions.create({ messages: [] }).then(() => null, (e) => ({ name: e.name, status: e.status, param: e.param }));
lm.dispose();
env.allowLocalModels = true;
env.localModelPath = models;
const local = await Model.load("tiny-bert-cls");
out.local = await local.classify(${JSON.stringify(CLS.cases[0].text)}, { topK: 3 });
local.dispose();
env.allowLocalModels = false;
env.remoteHost = hub;
const remote = await Model.load("webfm-test/tiny-bert-cls");
out.remote = await remote.classify(${JSON.stringify(CLS.cases[0].text)}, { topK: 3 });
remote.dispose();
out.missing = await TextModel.load("webfm-test/nope").then(() => null, (e) => e.message);
console.log(JSON.stringify(out));
`;

describe("the npm package in Node.js", { timeout: 10 * MINUTE }, () => {
  let server;
  before(async () => {
    server = await startServer({ port: 0 });
    rmSync(SCRATCH, { recursive: true, force: true });
    mkdirSync(SCRATCH, { recursive: true });
    const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", SCRATCH], { cwd: join(ROOT, "pkg"), encoding: "utf8" }));
    writeFileSync(join(SCRATCH, "package.json"), JSON.stringify({ name: "webfm-node-scratch", private: true, type: "module" }, null, 2));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(SCRATCH, packed[0].filename)], { cwd: SCRATCH, stdio: "pipe" });
    writeFileSync(join(SCRATCH, "run.mjs"), SCRIPT);
  }, { timeout: 3 * MINUTE });
  after(() => server?.close());

  test("a folder path and ids, on the CPU path, match PyTorch", { timeout: 5 * MINUTE }, async () => {
    // Not execFileSync: the test server answers from this process's event loop.
    const { stdout } = await promisify(execFile)(process.execPath, ["run.mjs", join(ROOT, "tests", "models"), `${server.url}hub/`], { cwd: SCRATCH, encoding: "utf8" });
    const r = JSON.parse(stdout.trim().split("\n").at(-1));
    assert.equal(r.device, "cpu");
    assert.deepEqual(r.ids, DEC.greedy_ids);
    assert.deepEqual(r.statuses.filter((s) => s !== "wasm"), ["initiate", "download", "progress", "done", "ready"]);
    const v = JSON.parse(r.json);
    assert.ok(["x", "y", "z"].includes(v.pick) && Number.isInteger(v.n) && v.n >= 0 && v.n <= 9, r.json);
    assert.deepEqual(r.chatError, { name: "BadRequestError", status: 400, param: "messages" });
    const labels = Object.values(CLS.id2label);
    for (const got of [r.local, r.remote]) {
      assert.equal(got[0].label, CLS.cases[0].label);
      for (const { label, score } of got) assert.ok(Math.abs(score - CLS.cases[0].scores[labels.indexOf(label)]) < 1e-4, `${label} ${score}`);
    }
    assert.match(r.missing, /\/hub\/webfm-test\/nope\/resolve\/main\/config\.json: HTTP 404/);
  });
});
