// An OpenAI-style chat API over a TextModel (or a WorkerTextModel):
// `model.chat.completions.create({ messages, stream, max_tokens, ... })`
// returns a `chat.completion` object, or with `stream: true` an async
// iterator of `chat.completion.chunk` objects. `response_format` and the
// tools' parameter schemas become constrained decoding (the model's
// `generate` with `jsonSchema` / `grammar`), so the JSON always parses.
//
// Tool calls use the Hermes format that Qwen2.5's template asks for:
// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. A template
// that does not render `tools` (SmolLM2's) gets them in a system message
// saying so.

/** An error as OpenAI's SDK shapes it: `status`, `type`, `param`, `code` and `error: {message, type, param, code}`. */
export class APIError extends Error {
  constructor(message, { status = 400, type = "invalid_request_error", param = null, code = null, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = status === 400 ? "BadRequestError" : "APIError";
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.error = { message, type, param, code };
  }
}

const bad = (message, param, code = "invalid_value") => new APIError(`webfm chat: ${message}`, { param, code });

const KNOWN = [
  "messages",
  "model",
  "stream",
  "stream_options",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "stop",
  "seed",
  "n",
  "response_format",
  "tools",
  "tool_choice",
  "signal",
  "frequency_penalty",
  "presence_penalty",
  "repetition_penalty",
];

let counter = 0;
const newId = (prefix) => `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** A message's text: a string, or the text parts of a content array. */
function text(content, i) {
  if (content === null || content === undefined) return null;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        if (part?.type !== "text" || typeof part.text !== "string") throw bad(`messages[${i}].content[${j}]: only {type: "text", text} parts are supported`, `messages[${i}].content`);
        return part.text;
      })
      .join("");
  }
  throw bad(`messages[${i}].content must be a string, an array of text parts or null`, `messages[${i}].content`);
}

/** Messages as the chat template takes them: text content, tool-call arguments as objects. */
function templateMessages(messages) {
  if (!Array.isArray(messages) || messages.length === 0) throw bad("messages must be a non-empty array", "messages");
  return messages.map((m, i) => {
    if (!m || typeof m !== "object") throw bad(`messages[${i}] must be an object`, `messages[${i}]`);
    if (!["system", "developer", "user", "assistant", "tool"].includes(m.role)) {
      throw bad(`messages[${i}].role must be "system", "user", "assistant" or "tool", got ${JSON.stringify(m.role)}`, `messages[${i}].role`);
    }
    const out = { role: m.role === "developer" ? "system" : m.role, content: text(m.content, i) };
    if (m.role === "assistant" && Array.isArray(m.tool_calls)) {
      out.tool_calls = m.tool_calls.map((c, j) => {
        const fn = c?.function;
        if (typeof fn?.name !== "string") throw bad(`messages[${i}].tool_calls[${j}].function.name must be a string`, `messages[${i}].tool_calls`);
        let args = fn.arguments ?? {};
        if (typeof args === "string") {
          try {
            args = JSON.parse(args);
          } catch {
            throw bad(`messages[${i}].tool_calls[${j}].function.arguments is not JSON`, `messages[${i}].tool_calls`);
          }
        }
        return { id: c.id, type: "function", function: { name: fn.name, arguments: args } };
      });
    } else if (out.content === null) {
      throw bad(`messages[${i}].content is missing`, `messages[${i}].content`);
    }
    if (m.role === "tool") {
      if (typeof m.tool_call_id === "string") out.tool_call_id = m.tool_call_id;
      if (typeof m.name === "string") out.name = m.name;
    }
    return out;
  });
}

function checkTools(tools) {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) throw bad("tools must be an array of {type: \"function\", function: {name, description?, parameters?}}", "tools");
  return tools.map((t, i) => {
    const fn = t?.function;
    if (t?.type !== "function" || typeof fn?.name !== "string" || !/^[\w.-]{1,64}$/.test(fn.name)) {
      throw bad(`tools[${i}] must be {type: "function", function: {name: /[\\w.-]{1,64}/, ...}}`, `tools[${i}]`);
    }
    if (fn.parameters !== undefined && (typeof fn.parameters !== "object" || fn.parameters === null)) throw bad(`tools[${i}].function.parameters must be a JSON schema object`, `tools[${i}]`);
    return t;
  });
}

/** The tools the output may call, from `tool_choice`: all ("auto", "required"), one, or none. */
function chosenTools(tools, choice) {
  if (!tools.length) {
    if (choice !== undefined && choice !== "none" && choice !== "auto") throw bad("tool_choice needs tools", "tool_choice");
    return { tools: [], required: false };
  }
  if (choice === undefined || choice === "auto") return { tools, required: false };
  if (choice === "none") return { tools: [], required: false };
  if (choice === "required") return { tools, required: true };
  const name = choice?.function?.name;
  const one = tools.find((t) => t.function.name === name);
  if (choice?.type !== "function" || !one) throw bad(`tool_choice names no tool in tools: ${JSON.stringify(choice)}`, "tool_choice");
  return { tools: [one], required: true };
}

const OPEN = "<tool_call>";
const CLOSE = "</tool_call>";

/** The JSON schema of one call: `{"name": <one of the tools>, "arguments": <its parameters>}`. */
function callSchema(tools) {
  const one = (t) => ({
    type: "object",
    properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: "object" } },
    required: ["name", "arguments"],
    additionalProperties: false,
  });
  return tools.length === 1 ? one(tools[0]) : { anyOf: tools.map(one) };
}

/**
 * The Lark grammar (llguidance's dialect) of the output with tools: one or
 * more calls, or (unless a call is required) plain text. Plain text must not
 * begin with "<" there: that is how the grammar tells the two apart.
 */
function toolGrammar(tools, required) {
  const schema = JSON.stringify({ ...callSchema(tools), "x-guidance": { whitespace_flexible: false, item_separator: ", ", key_separator: ": " } });
  const calls = `calls: call ("\\n" call)*\ncall: "${OPEN}\\n" json "\\n${CLOSE}"\njson: %json ${schema}`;
  return required ? `start: calls\n${calls}` : `start: calls | TEXT\nTEXT: /[^<](.|\\n)*/\n${calls}`;
}

/** The calls in a tool-format output, or null when it is plain text. */
function parseCalls(out) {
  const s = out.trim();
  if (!s.startsWith(OPEN)) return null;
  const calls = [];
  const re = /<tool_call>\s*([\s\S]*?)\s*<\/tool_call>/g;
  let m;
  while ((m = re.exec(s))) {
    let call;
    try {
      call = JSON.parse(m[1]);
    } catch {
      return null;
    }
    calls.push({ id: newId("call"), type: "function", function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) } });
  }
  return calls.length ? calls : null;
}

/** The system text that puts tools in front of a model whose template ignores them (Hermes-style, as Qwen2.5's template words it). */
function toolsSystemText(tools) {
  return [
    "# Tools",
    "",
    "You may call one or more functions to assist with the user query.",
    "",
    "You are provided with function signatures within <tools></tools> XML tags:",
    "<tools>",
    ...tools.map((t) => JSON.stringify(t)),
    "</tools>",
    "",
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:",
    "<tool_call>",
    '{"name": <function-name>, "arguments": <args-json-object>}',
    "</tool_call>",
  ].join("\n");
}

function numberIn(v, name, lo, hi, whole = false) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi || (whole && !Number.isInteger(v))) {
    throw bad(`${name} must be ${whole ? "a whole number" : "a number"} in [${lo}, ${hi}], got ${JSON.stringify(v)}`, name);
  }
  return v;
}

/** The model's `generate` options for one request, and what the reply needs to know. */
async function prepare(model, params) {
  if (!params || typeof params !== "object") throw bad("create() takes one object: { messages, ... }", null);
  for (const k of Object.keys(params)) if (!KNOWN.includes(k)) throw bad(`unknown parameter ${JSON.stringify(k)} (known: ${KNOWN.join(", ")})`, k, "unknown_parameter");
  const temperature = numberIn(params.temperature, "temperature", 0, 2) ?? 1;
  const topP = numberIn(params.top_p, "top_p", 0, 1) ?? 1;
  if (topP === 0) throw bad("top_p must be above 0", "top_p");
  const n = numberIn(params.n, "n", 1, 16, true) ?? 1;
  const seed = numberIn(params.seed, "seed", 0, Number.MAX_SAFE_INTEGER, true);
  const maxTokens = numberIn(params.max_completion_tokens ?? params.max_tokens, "max_tokens", 1, 1 << 20, true);
  for (const k of ["frequency_penalty", "presence_penalty"]) {
    if (params[k] !== undefined && params[k] !== 0) throw bad(`${k} is not supported (use repetition_penalty)`, k, "unsupported_parameter");
  }
  const repetitionPenalty = numberIn(params.repetition_penalty, "repetition_penalty", 0.01, 10);
  let stop = params.stop ?? undefined;
  if (typeof stop === "string") stop = [stop];
  if (stop !== undefined && !(Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === "string" && s))) throw bad("stop must be a string or up to 4 non-empty strings", "stop");

  const tools = checkTools(params.tools);
  const chosen = chosenTools(tools, params.tool_choice);
  let messages = templateMessages(params.messages);
  // Does the template render `tools`? Asked on a one-line chat, so that a
  // history it cannot render (tool calls) does not decide.
  const probe = [{ role: "user", content: "?" }];
  const toolsInTemplate = !tools.length || (await model.applyChatTemplate(probe, { tools })) !== (await model.applyChatTemplate(probe));
  let prompt;
  if (toolsInTemplate) {
    prompt = await model.applyChatTemplate(messages, tools.length ? { tools } : undefined);
  } else {
    // Say the tools in a system message, and the calls and results as text, as Qwen2.5's template would.
    const sys = toolsSystemText(tools);
    messages = messages.map((m) => {
      if (m.tool_calls) {
        const calls = m.tool_calls.map((c) => `${OPEN}\n${JSON.stringify({ name: c.function.name, arguments: c.function.arguments })}\n${CLOSE}`).join("\n");
        return { role: "assistant", content: m.content ? `${m.content}\n${calls}` : calls };
      }
      if (m.role === "tool") return { role: "user", content: `<tool_response>\n${m.content}\n</tool_response>` };
      return m;
    });
    messages = messages[0].role === "system" ? [{ ...messages[0], content: `${messages[0].content}\n\n${sys}` }, ...messages.slice(1)] : [{ role: "system", content: sys }, ...messages];
    prompt = await model.applyChatTemplate(messages);
  }

  const options = { temperature, topP };
  if (stop) options.stop = stop;
  if (seed !== undefined) options.seed = seed;
  if (repetitionPenalty !== undefined) options.repetitionPenalty = repetitionPenalty;
  const rf = params.response_format;
  if (rf !== undefined && rf !== null) {
    if (rf.type === "json_object") options.jsonSchema = true;
    else if (rf.type === "json_schema") {
      const schema = rf.json_schema?.schema;
      if (!schema || typeof schema !== "object") throw bad("response_format.json_schema.schema must be a JSON schema object", "response_format");
      options.jsonSchema = schema;
    } else if (rf.type !== "text") throw bad(`response_format.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(rf.type)}`, "response_format");
  }
  if (chosen.tools.length) {
    if (options.jsonSchema) throw bad("response_format and tools cannot constrain the same reply; leave one out", "response_format");
    options.grammar = toolGrammar(chosen.tools, chosen.required);
  }
  const info = model.info();
  const promptTokens = (await model.tokenize(prompt)).length;
  const room = info.maxPositions - promptTokens;
  if (room < 1) throw new APIError(`webfm chat: the messages take ${promptTokens} tokens, the model's whole context of ${info.maxPositions}`, { param: "messages", code: "context_length_exceeded" });
  if (maxTokens !== undefined && maxTokens > room) {
    throw new APIError(`webfm chat: the messages' ${promptTokens} tokens + max_tokens ${maxTokens} pass the model's context of ${info.maxPositions}`, { param: "max_tokens", code: "context_length_exceeded" });
  }
  options.maxNewTokens = maxTokens ?? Math.min(room, 1024);
  if (params.signal !== undefined) options.signal = params.signal;
  return { prompt, options, n, tools: chosen.tools, stream: !!params.stream, includeUsage: params.stream_options?.include_usage !== false, modelName: params.model ?? info.modelType };
}

const FINISH = { eos: "stop", stop: "stop", length: "length", cancelled: "abort" };

/** Runs a webfm error through as an OpenAI-style one (an AbortError stays itself). */
function asApiError(e) {
  if (e instanceof APIError || e?.name === "AbortError") return e;
  if (e?.name === "DeviceLost") return new APIError(`webfm chat: ${e.message}`, { status: 503, type: "server_error", code: "device_lost", cause: e });
  return new APIError(`webfm chat: ${e?.message ?? e}`, { status: 400, type: "invalid_request_error", cause: e });
}

async function complete(model, p) {
  const created = Math.floor(Date.now() / 1000);
  const choices = [];
  const usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  for (let index = 0; index < p.n; index++) {
    const options = { ...p.options };
    if (p.n > 1) options.seed = (p.options.seed ?? 0) + index;
    const it = model.generate(p.prompt, options);
    let out = "";
    for await (const piece of it) out += piece;
    const stats = it.stats();
    const calls = p.tools.length ? parseCalls(out) : null;
    const message = calls ? { role: "assistant", content: null, tool_calls: calls } : { role: "assistant", content: out };
    choices.push({ index, message, logprobs: null, finish_reason: calls ? "tool_calls" : (FINISH[stats?.finish] ?? "stop") });
    usage.prompt_tokens = stats?.promptTokens ?? 0;
    usage.completion_tokens += stats?.newTokens ?? 0;
  }
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  return { id: newId("chatcmpl"), object: "chat.completion", created, model: p.modelName, choices, usage, system_fingerprint: null };
}

/** The chunks of one streamed reply (`n` must be 1). Text that may begin a tool call is held back until it is known. */
function streamed(model, p) {
  const id = newId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, finish_reason = null) => ({ id, object: "chat.completion.chunk", created, model: p.modelName, choices: [{ index: 0, delta, logprobs: null, finish_reason }] });
  const it = model.generate(p.prompt, p.options);
  let stage = "role"; // role -> body -> end -> usage -> over
  let out = "";
  let held = "";
  let isCall = p.tools.length > 0 ? null : false; // null: not known yet
  return {
    async next() {
      try {
        if (stage === "role") {
          stage = "body";
          return { value: chunk({ role: "assistant", content: "" }), done: false };
        }
        while (stage === "body") {
          const r = await it.next();
          if (r.done) {
            stage = "end";
            break;
          }
          out += r.value;
          if (isCall === null) {
            const start = out.trimStart();
            if (start.length >= OPEN.length || !OPEN.startsWith(start)) isCall = start.startsWith(OPEN);
          }
          if (isCall === false) {
            const piece = held + r.value;
            held = "";
            if (piece) return { value: chunk({ content: piece }), done: false };
          } else if (isCall === null) held += r.value;
        }
        if (stage === "end") {
          stage = "usage";
          const stats = it.stats();
          const calls = isCall !== false && p.tools.length ? parseCalls(out) : null;
          if (calls) {
            const delta = { tool_calls: calls.map((c, index) => ({ index, ...c })) };
            return { value: chunk(delta, "tool_calls"), done: false };
          }
          const delta = held ? { content: held } : {};
          held = "";
          return { value: chunk(delta, FINISH[stats?.finish] ?? "stop"), done: false };
        }
        if (stage === "usage") {
          stage = "over";
          if (p.includeUsage) {
            const s = it.stats();
            const usage = { prompt_tokens: s?.promptTokens ?? 0, completion_tokens: s?.newTokens ?? 0, total_tokens: (s?.promptTokens ?? 0) + (s?.newTokens ?? 0) };
            return { value: { id, object: "chat.completion.chunk", created, model: p.modelName, choices: [], usage }, done: false };
          }
        }
        return { value: undefined, done: true };
      } catch (e) {
        stage = "over";
        throw asApiError(e);
      }
    },
    async return() {
      stage = "over";
      await it.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** `{ completions: { create } }` for `model` (anything with `generate`, `applyChatTemplate`, `tokenize` and `info`). */
export function chatApi(model) {
  return {
    completions: {
      /** As OpenAI's `chat.completions.create`; see docs/API.md for what is supported. */
      async create(params) {
        let p;
        try {
          p = await prepare(model, params);
        } catch (e) {
          throw asApiError(e);
        }
        if (p.stream && p.n !== 1) throw bad("stream: true takes n = 1", "n");
        try {
          // `generate` throws at once on what it refuses: an APIError too when streaming.
          return p.stream ? streamed(model, p) : await complete(model, p);
        } catch (e) {
          throw asApiError(e);
        }
      },
    },
  };
}
