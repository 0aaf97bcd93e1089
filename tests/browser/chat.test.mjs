// What web developers expect (issue 20), in headless Chromium through the
// package (pkg/index.js): models by hub id (the test server laid out like a
// hub at /hub/, `env.remoteHost` pointed at it; the default host is never
// contacted), load progress with status and an overall fraction, and the
// OpenAI-style chat API on SmolLM2: plain replies, streamed chunks, JSON
// schemas (nested objects, arrays, enums, numbers, required fields) whose
// outputs are validated by Ajv (an independent JSON-schema validator),
// greedy and sampled, on the CPU path and WebGPU; tool calls and a tool's
// reply fed back; the same API in Worker mode; OpenAI-style errors.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import Ajv from "ajv";
import { log, MINUTE, useTestPage } from "./common.mjs";

const SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct";

const SCHEMAS = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 40 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      email: { type: "string", pattern: "^[a-z]{1,12}@[a-z]{1,12}\\.(com|org)$" },
    },
    required: ["name", "age", "email"],
    additionalProperties: false,
  },
  nested: {
    type: "object",
    properties: {
      city: { type: "string", maxLength: 30 },
      location: {
        type: "object",
        properties: { lat: { type: "number", minimum: -90, maximum: 90 }, lon: { type: "number", minimum: -180, maximum: 180 } },
        required: ["lat", "lon"],
        additionalProperties: false,
      },
      sights: { type: "array", items: { type: "string", maxLength: 30 }, minItems: 1, maxItems: 3 },
    },
    required: ["city", "location", "sights"],
    additionalProperties: false,
  },
  review: {
    type: "object",
    properties: {
      sentiment: { enum: ["positive", "negative", "neutral"] },
      stars: { type: "integer", minimum: 1, maximum: 5 },
      recommended: { type: "boolean" },
      tags: { type: "array", items: { enum: ["food", "service", "price", "place"] }, maxItems: 4 },
    },
    required: ["sentiment", "stars", "recommended"],
    additionalProperties: false,
  },
};

const PROMPTS = {
  person: "Make up a person: give their name, age and email address.",
  nested: "Describe Lisbon: its coordinates and up to three sights.",
  review: "Review: 'The soup was cold and the waiter rude, but it was cheap.' Give sentiment, stars (1-5), whether you recommend it, and tags.",
};

describe("hub ids, progress and the OpenAI-style chat API", { timeout: 25 * MINUTE }, () => {
  const ctx = useTestPage();
  const ajv = new Ajv({ allErrors: true });

  test("a model by id loads from the hub layout, with status events and an overall fraction; missing ids name the URL", { timeout: 4 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const { TextModel, Model, env } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub/`;
      env.allowLocalModels = false;
      const events = [];
      const lm = await TextModel.load("HuggingFaceTB/SmolLM2-135M-Instruct", { device: "cpu", cache: false, onProgress: (p) => events.push(p) });
      let text = "";
      for await (const piece of lm.generate("hi", { maxNewTokens: 8, ignoreEos: true })) text += piece;
      const ids = lm.info().load.files;
      lm.dispose();
      const err = async (f) => {
        try {
          await f();
          return null;
        } catch (e) {
          return `${e.name}: ${e.message}`;
        }
      };
      const missing = await err(() => TextModel.load("webfm-test/no-such-model", { device: "cpu", cache: false }));
      const badRevision = await err(() => TextModel.load("webfm-test/tiny-qwen2", { device: "cpu", cache: false, revision: "v9" }));
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.localModelPath = "/no-such-folder/";
      const noRemote = await err(() => TextModel.load("webfm-test/tiny-qwen2", { device: "cpu", cache: false }));
      const folderWithRevision = await err(() => TextModel.load("/tests/models/tiny-qwen2/", { device: "cpu", revision: "main" }));
      env.allowRemoteModels = true;
      env.allowLocalModels = false;
      return { events, text, ids, missing, badRevision, noRemote, folderWithRevision, origin: location.origin };
    });
    const statuses = [...new Set(r.events.map((e) => e.status))];
    assert.deepEqual(statuses.filter((s) => s !== "wasm"), ["initiate", "download", "progress", "done", "ready"]);
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"]) {
      const mine = r.events.filter((e) => e.file === file).map((e) => e.status);
      assert.equal(mine[0], "initiate", `${file}: ${mine}`);
      assert.equal(mine.at(-1), "done", `${file}: ${mine}`);
      assert.ok(mine.includes("download") && mine.includes("progress"), `${file}: ${mine}`);
    }
    const overall = r.events.filter((e) => e.status !== "wasm").map((e) => e.overall);
    assert.ok(overall.every((x, i) => i === 0 || x >= overall[i - 1]), "overall never goes back");
    assert.equal(overall.at(-1), 1);
    const mid = r.events.filter((e) => e.file === "model.safetensors" && e.status === "progress").map((e) => e.overall);
    assert.ok(mid.some((x) => x > 0 && x < 1), `overall moves while the weights download: ${mid.slice(0, 5)}`);
    const done = r.events.find((e) => e.file === "model.safetensors" && e.status === "done");
    assert.equal(done.loaded, done.total);
    assert.equal(done.progress, 100);
    assert.ok(r.events.every((e) => e.status === "wasm" || e.name === "HuggingFaceTB/SmolLM2-135M-Instruct"));
    assert.ok(r.text.length > 0);
    assert.match(r.missing, new RegExp(`${r.origin}/hub/webfm-test/no-such-model/resolve/main/config\\.json: HTTP 404`));
    assert.match(r.badRevision, /resolve\/v9\/config\.json: HTTP 404/);
    assert.match(r.noRemote, /ModelNotFoundError: .*not found locally \(tried .*\/no-such-folder\/webfm-test\/tiny-qwen2\/config\.json\) and env\.allowRemoteModels is false/);
    assert.match(r.folderWithRevision, /revision is for models given by id/);
    log(`hub: ${r.events.length} events, statuses ${statuses.join(", ")}`);
  });

  test("local folders by id: {localModelPath}{id}/ first, the hub when absent there", { timeout: 2 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async () => {
      const { Model, env } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub/`;
      env.allowLocalModels = true;
      env.localModelPath = "/tests/models/";
      const local = [];
      const a = await Model.load("tiny-bert-cls", { device: "cpu", cache: false, fetch: (u) => (local.push(u), fetch(u)) });
      const scoresLocal = await a.classify("good");
      a.dispose();
      env.localModelPath = "/no-such-folder/";
      const remote = [];
      const b = await Model.load("webfm-test/tiny-bert-cls", { device: "cpu", cache: false, fetch: (u) => (remote.push(u), fetch(u)) });
      const scoresRemote = await b.classify("good");
      b.dispose();
      env.allowLocalModels = false;
      return { local, remote, scoresLocal, scoresRemote, origin: location.origin };
    });
    assert.ok(r.local.every((u) => u.startsWith("/tests/models/tiny-bert-cls/")), r.local.join(" "));
    assert.equal(r.remote[0], "/no-such-folder/webfm-test/tiny-bert-cls/config.json");
    assert.ok(r.remote.slice(1).every((u) => u.startsWith(`${r.origin}/hub/webfm-test/tiny-bert-cls/resolve/main/`)), r.remote.join(" "));
    assert.deepEqual(r.scoresLocal, r.scoresRemote);
  });

  for (const device of ["cpu", "webgpu"]) {
    test(`JSON schemas hold on SmolLM2 (${device}): greedy and sampled outputs parse and validate`, { timeout: 10 * MINUTE }, async () => {
      // SwiftShader decodes SmolLM2 at about a token a second: one schema, greedy and sampled, there.
      const names = device === "cpu" ? Object.keys(SCHEMAS) : ["review"];
      const cases = names.flatMap((name) => [0, 1, 2].slice(0, device === "cpu" ? 3 : 2).map((i) => ({ name, temperature: i === 0 ? 0 : 0.9, seed: i })));
      const r = await ctx.page.evaluate(
        async ({ SMOL, SCHEMAS, PROMPTS, cases, device }) => {
          const { TextModel, env } = await import("/pkg/index.js");
          env.remoteHost = `${location.origin}/hub/`;
          const lm = await TextModel.load(SMOL, { device, cache: false });
          const out = [];
          for (const c of cases) {
            const t0 = performance.now();
            const reply = await lm.chat.completions.create({
              messages: [{ role: "user", content: PROMPTS[c.name] }],
              response_format: { type: "json_schema", json_schema: { name: c.name, schema: SCHEMAS[c.name] } },
              temperature: c.temperature,
              seed: c.seed,
              max_tokens: device === "cpu" ? 120 : 48,
            });
            out.push({ ...c, reply, ms: performance.now() - t0 });
          }
          // Any JSON object, greedy.
          const obj = await lm.chat.completions.create({ messages: [{ role: "user", content: "Give me a JSON object with your name." }], response_format: { type: "json_object" }, temperature: 0, max_tokens: device === "cpu" ? 60 : 16 });
          const kind = lm.info().deviceKind;
          lm.dispose();
          return { out, obj, kind };
        },
        { SMOL, SCHEMAS, PROMPTS, cases, device },
      );
      assert.equal(r.kind, device);
      for (const { name, temperature, seed, reply } of r.out) {
        const what = `${name} T=${temperature} seed ${seed}`;
        assert.equal(reply.object, "chat.completion");
        assert.equal(reply.choices.length, 1);
        const choice = reply.choices[0];
        assert.equal(choice.finish_reason, "stop", `${what}: ${choice.message.content}`);
        const value = JSON.parse(choice.message.content);
        const validate = ajv.compile(SCHEMAS[name]);
        assert.ok(validate(value), `${what}: ${choice.message.content}: ${ajv.errorsText(validate.errors)}`);
        assert.ok(reply.usage.completion_tokens > 0 && reply.usage.total_tokens === reply.usage.prompt_tokens + reply.usage.completion_tokens);
      }
      const anyObject = r.obj.choices[0];
      if (anyObject.finish_reason === "stop") assert.equal(typeof JSON.parse(anyObject.message.content), "object");
      else assert.ok(anyObject.message.content.startsWith("{"));
      log(`${device}: ${r.out.map((o) => `${o.name}/${o.temperature} ${Math.round(o.ms)} ms: ${o.reply.choices[0].message.content}`).join("\n  ")}`);
    });
  }

  test("streaming, stop, n, tools and a tool's reply, errors; the same API in Worker mode", { timeout: 8 * MINUTE }, async () => {
    const r = await ctx.page.evaluate(async (SMOL) => {
      const { TextModel, env, APIError } = await import("/pkg/index.js");
      const { WorkerTextModel } = await import("/pkg/worker.js");
      env.remoteHost = `${location.origin}/hub/`;
      const lm = await TextModel.load(SMOL, { device: "cpu", cache: false });
      const messages = [{ role: "user", content: "Name three colours." }];
      const plain = await lm.chat.completions.create({ messages, temperature: 0, max_tokens: 24 });
      const chunks = [];
      for await (const c of await lm.chat.completions.create({ messages, temperature: 0, max_tokens: 24, stream: true })) chunks.push(c);
      const stopped = await lm.chat.completions.create({ messages, temperature: 0, max_tokens: 24, stop: ["\n", ","] });
      const many = await lm.chat.completions.create({ messages, temperature: 1, seed: 5, n: 2, max_tokens: 8 });
      const tools = [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather now in a city",
            parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 }, unit: { enum: ["celsius", "fahrenheit"] } }, required: ["city", "unit"], additionalProperties: false },
          },
        },
      ];
      const ask = [{ role: "user", content: "What is the weather in Paris?" }];
      const called = await lm.chat.completions.create({ messages: ask, tools, tool_choice: "required", temperature: 0, max_tokens: 60 });
      const callChunks = [];
      for await (const c of await lm.chat.completions.create({ messages: ask, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, temperature: 0, max_tokens: 60, stream: true })) callChunks.push(c);
      const call = called.choices[0].message.tool_calls?.[0];
      const followUp = call
        ? await lm.chat.completions.create({
            messages: [...ask, called.choices[0].message, { role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 18, sky: "clear" }) }],
            tools,
            tool_choice: "none",
            temperature: 0,
            max_tokens: 40,
          })
        : null;
      const prompt = lm.applyChatTemplate(ask, { tools });
      const errors = {};
      const attempt = async (k, params) => {
        try {
          await lm.chat.completions.create(params);
          errors[k] = null;
        } catch (e) {
          errors[k] = { name: e.name, isApiError: e instanceof APIError, status: e.status, type: e.type, param: e.param, code: e.code, message: e.error?.message };
        }
      };
      await attempt("empty", { messages: [] });
      await attempt("role", { messages: [{ role: "robot", content: "x" }] });
      await attempt("unknown", { messages, max_new_tokens: 3 });
      await attempt("temperature", { messages, temperature: 3 });
      await attempt("format", { messages, response_format: { type: "yaml" } });
      await attempt("schema", { messages, response_format: { type: "json_schema", json_schema: { schema: { type: "integer", minimum: 9, maximum: 1 } } } });
      await attempt("context", { messages, max_tokens: 100000 });
      await attempt("toolChoice", { messages, tools, tool_choice: { type: "function", function: { name: "nope" } } });
      const ctrl = new AbortController();
      let aborted = null;
      const it = await lm.chat.completions.create({ messages, temperature: 0, max_tokens: 60, stream: true, signal: ctrl.signal });
      for await (const c of it) {
        if (c.choices[0]?.delta.content) ctrl.abort();
        if (c.choices[0]?.finish_reason) aborted = c.choices[0].finish_reason;
      }
      lm.dispose();

      const w = await WorkerTextModel.load(SMOL, { device: "cpu", cache: false });
      const inWorker = await w.chat.completions.create({ messages, temperature: 0, max_tokens: 24 });
      const workerJson = await w.chat.completions.create({ messages: [{ role: "user", content: "A colour as JSON" }], response_format: { type: "json_schema", json_schema: { schema: { type: "object", properties: { colour: { enum: ["red", "green", "blue"] } }, required: ["colour"], additionalProperties: false } } }, temperature: 0 });
      const workerChunks = [];
      for await (const c of await w.chat.completions.create({ messages, temperature: 0, max_tokens: 24, stream: true })) workerChunks.push(c);
      w.dispose();
      return { plain, chunks, stopped, many, called, callChunks, followUp, prompt, errors, aborted, inWorker, workerJson, workerChunks };
    }, SMOL);

    const text = r.plain.choices[0].message.content;
    assert.ok(text.length > 0);
    assert.equal(r.plain.choices[0].finish_reason === "stop" || r.plain.choices[0].finish_reason === "length", true);
    // Streamed: a role chunk, content deltas that add up to the same greedy text, a finish, then usage.
    assert.deepEqual(r.chunks[0].choices[0].delta, { role: "assistant", content: "" });
    assert.ok(r.chunks.every((c) => c.object === "chat.completion.chunk" && c.id === r.chunks[0].id));
    assert.equal(r.chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), text);
    const last = r.chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, r.plain.usage);
    assert.equal(r.chunks.at(-2).choices[0].finish_reason, r.plain.choices[0].finish_reason);
    assert.ok(!/[\n,]/.test(r.stopped.choices[0].message.content) && text.startsWith(r.stopped.choices[0].message.content));
    assert.equal(r.many.choices.length, 2);
    assert.equal(r.many.usage.completion_tokens, 16);
    // Tools: SmolLM2's own template ignores `tools` (the chat API then says them in a system message).
    assert.doesNotMatch(r.prompt, /get_weather/);
    const msg = r.called.choices[0].message;
    assert.equal(r.called.choices[0].finish_reason, "tool_calls", JSON.stringify(msg));
    assert.equal(msg.content, null);
    assert.equal(msg.tool_calls.length >= 1, true);
    for (const c of msg.tool_calls) {
      assert.equal(c.type, "function");
      assert.equal(c.function.name, "get_weather");
      const args = JSON.parse(c.function.arguments);
      assert.ok(ajv.validate(r.called.choices[0] && { type: "object", properties: { city: { type: "string", maxLength: 20 }, unit: { enum: ["celsius", "fahrenheit"] } }, required: ["city", "unit"], additionalProperties: false }, args), c.function.arguments);
    }
    const streamedCall = r.callChunks.find((c) => c.choices[0]?.delta.tool_calls);
    assert.equal(streamedCall.choices[0].finish_reason, "tool_calls");
    assert.equal(streamedCall.choices[0].delta.tool_calls[0].function.name, "get_weather");
    assert.equal(streamedCall.choices[0].delta.tool_calls[0].index, 0);
    assert.equal(typeof r.followUp.choices[0].message.content, "string");
    assert.ok(!r.followUp.choices[0].message.tool_calls);
    // Errors, OpenAI-shaped.
    for (const [k, e] of Object.entries(r.errors)) {
      assert.ok(e, `${k}: no error`);
      assert.equal(e.isApiError, true, k);
      assert.equal(e.status, 400, k);
      assert.equal(e.type, "invalid_request_error", k);
    }
    assert.equal(r.errors.empty.param, "messages");
    assert.match(r.errors.role.message, /messages\[0\]\.role must be/);
    assert.equal(r.errors.unknown.code, "unknown_parameter");
    assert.match(r.errors.temperature.message, /temperature must be a number in \[0, 2\]/);
    assert.match(r.errors.format.message, /response_format\.type/);
    assert.match(r.errors.schema.message, /grammar/);
    assert.equal(r.errors.context.code, "context_length_exceeded");
    assert.match(r.errors.toolChoice.message, /tool_choice names no tool/);
    assert.equal(r.aborted, "abort");
    // Worker mode: the same greedy text, a valid schema answer, streamed chunks.
    assert.equal(r.inWorker.choices[0].message.content, text);
    assert.ok(["red", "green", "blue"].includes(JSON.parse(r.workerJson.choices[0].message.content).colour));
    assert.equal(r.workerChunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), text);
    log(`chat: ${JSON.stringify(text)}; tool call ${msg.tool_calls[0].function.arguments}; follow-up ${JSON.stringify(r.followUp.choices[0].message.content)}`);
  });
});
