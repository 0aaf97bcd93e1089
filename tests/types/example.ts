// A typed use of every export of the webfm package (pkg/index.d.ts and
// pkg/worker.d.ts), checked by scripts/typecheck.sh and never run. Each
// options type is written out whole (`Required<...>`), so a field renamed in
// a .d.ts but not here, or here but not there, fails the check: the field
// names must be the wasm side's, since an unknown field throws there.

import {
  adapterInfo,
  cacheUsage,
  clearCache,
  init,
  memoryStats,
  Model,
  TextModel,
  type Adapter,
  type AdapterInfo,
  type AdapterOptions,
  type AdapterSource,
  type Bytes,
  type CacheEntry,
  type ChatMessage,
  type DeviceLostEvent,
  type MemoryStats,
  type ClassifyOptions,
  type DeviceRequest,
  type EmbedOptions,
  type EncodeOptions,
  type FileSource,
  type FinetuneOptions,
  type GenerateOptions,
  type GenerationStats,
  type InitOptions,
  type LabelScore,
  type LoadOptions,
  type LoadStats,
  type LogitsOptions,
  type ModelInfo,
  type ModelSource,
  type Progress,
  type Prompt,
  type StepInfo,
  type TextExample,
  type TextModelInfo,
  type TextStream,
  type TrainingReport,
  type ZeroShotOptions,
  env,
  APIError,
  ModelNotFoundError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type ChatTool,
  type Env,
} from "../../pkg/index.js";
import {
  createWorkerModel,
  WorkerModel,
  WorkerTextModel,
  type WorkerAdapter,
  type WorkerCreateOptions,
  type WorkerLoadOptions,
  type WorkerTextStream,
} from "../../pkg/worker.js";

const onProgress = (p: Progress): void => console.log(p.file, p.loaded, p.total, p.phase, p.warning);
const device: DeviceRequest = "auto";
const controller = new AbortController();

const onDeviceLost = (e: DeviceLostEvent): void => console.log(e.reason, e.from, e.to, e.recovered, e.error);

const initOptions: Required<InitOptions> = { wasm: new URL("./webfm_bg.wasm", location.href), onProgress };

const loadOptions: Required<LoadOptions> = {
  device,
  bits: 4,
  group: 64,
  onProgress,
  cache: "revalidate",
  fetch: (url: string) => fetch(url),
  signal: controller.signal,
  onDeviceLost,
  integrity: { "model.safetensors": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
  revision: "main",
};

const encodeOptions: Required<EncodeOptions> = { truncate: true, maxTokens: 64 };
const embedOptions: Required<EmbedOptions> = { ...encodeOptions, normalize: true, pooling: "mean" };
const classifyOptions: Required<ClassifyOptions> = { ...encodeOptions, topK: 2 };
const zeroShotOptions: Required<ZeroShotOptions> = { ...encodeOptions, template: "This text is about {}." };

const generateOptions: Required<GenerateOptions> = {
  maxNewTokens: 32,
  temperature: 0.7,
  topK: 40,
  topP: 0.9,
  repetitionPenalty: 1.1,
  seed: 1,
  stop: ["\n\n"],
  signal: controller.signal,
  onToken: (id: number) => console.log(id),
  ignoreEos: false,
  // Types only: at run time at most one of these three.
  jsonSchema: { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] },
  regex: "[0-9]+",
  grammar: 'start: "yes" | "no"',
};
const logitsOptions: Required<LogitsOptions> = { all: true };
const adapterOptions: Required<AdapterOptions> = { merge: false };

type Labelled = { text: string; label: string | number };
const labelled: Labelled[] = [
  { text: "great", label: "positive" },
  { text: "awful", label: 0 },
];
const textExamples: TextExample[] = [{ prompt: "2+2=", completion: "4" }, { text: "Once upon a time" }];
const onStep = (s: StepInfo): void => console.log(s.step, s.steps, s.epoch, s.loss, s.gradNorm, s.lr, s.examplesPerSecond);

function finetuneOptions<E>(evalExamples: E[]): Required<FinetuneOptions<E>> {
  return {
    method: "head+lora",
    rank: 8,
    alpha: 16,
    targets: ["query", "value"],
    lr: 1e-3,
    epochs: 3,
    batchSize: 8,
    seed: 0,
    warmup: 0.1,
    weightDecay: 0,
    maxGradNorm: 1,
    maxTokens: 128,
    evalExamples,
    onStep,
    signal: controller.signal,
  };
}

const workerLoadOptions: Required<WorkerLoadOptions> = {
  device: "cpu",
  bits: 8,
  group: 32,
  onProgress,
  cache: false,
  signal: controller.signal,
  onDeviceLost,
  integrity: { "model.safetensors": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
  revision: "main",
};
const workerCreateOptions = { ...workerLoadOptions, task: "classify" } satisfies Required<WorkerCreateOptions>;

function report(r: TrainingReport): string {
  const eval_ = r.evalAccuracy ?? r.evalLoss ?? "none";
  return `${r.steps} steps (${r.stopped ? "stopped" : "done"}), loss ${r.trainLoss.at(-1)}, ${r.examplesPerSecond}/s, ${r.truncated} cut, labels ${r.labels?.join()}, eval ${eval_}, ${r.peakGpuBytes} B`;
}

function stats(s: GenerationStats | null): string {
  if (!s) return "running";
  return `${s.promptTokens}+${s.newTokens} (${s.ids.length} ids) ${s.finish ?? "?"} ${s.msFirstToken} ms ${s.tokensPerSecond} tok/s ${s.kvCacheBytes} B ${s.maskMs} ms masks`;
}

function loadStats(l: LoadStats, cache: CacheEntry[]): string {
  const c = cache.map((e) => `${e.url} ${e.from} ${e.bytes ?? "?"} ${e.stored ?? false}`).join("; ");
  return `${l.files.join()} ${l.tensors} ${l.bytes} ${l.peakBufferedBytes} ${l.wasmMemoryBytes} ${l.gpuBytes} ${l.millis} | ${c}`;
}

function top(scores: LabelScore[]): string {
  return scores.map((s) => `${s.label}=${s.score.toFixed(3)}`).join(" ");
}

async function encoders(): Promise<void> {
  const bytes: Bytes = new Uint8Array(8);
  const config: FileSource = "/models/minilm/config.json";
  const files: ModelSource = { config, tokenizer: new URL("/models/minilm/tokenizer.json", location.href), weights: [bytes, new ArrayBuffer(8)], pooling: { pooling_mode_mean_tokens: true } };
  const m: Model = await Model.load(files, loadOptions);
  const one: Float32Array = await m.embed("hello", embedOptions);
  const many: Float32Array[] = await m.embed(["a", "b"], {});
  const scores: LabelScore[] = await m.classify("good", classifyOptions);
  const batch: LabelScore[][] = await m.classify(["good", "bad"]);
  const zero: LabelScore[] = await m.zeroShot("a match", ["sport", "politics"], zeroShotOptions);
  const sim: number = await m.similarity("a", "b");
  const { ids, truncated } = m.tokenize("hello", encodeOptions);
  const adapter: Adapter = await m.finetune(labelled, finetuneOptions(labelled));
  const source: AdapterSource = { config: adapter.configJson(), weights: adapter.toSafetensors() };
  const labels: string[] = await m.loadAdapter(source);
  m.unloadAdapter();
  const info: ModelInfo = m.info();
  console.log(one.length, many.length, top(scores), batch.length, top(zero), sim, ids, truncated, report(adapter.report), labels);
  console.log(info.arch, info.deviceKind, info.hidden, info.layers, info.heads, info.vocab, info.maxTokens, info.pooling, info.normalize);
  console.log(info.labels, info.classifier, info.quantization?.bits, info.adapter?.lora, loadStats(info.load, info.cache));
  m.dispose();
}

async function decoders(): Promise<void> {
  const lm: TextModel = await TextModel.load("/models/smollm2/", { device: "webgpu", onProgress });
  const messages: ChatMessage[] = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
  ];
  const prompts: Prompt[] = ["Once upon a time", messages, new Uint32Array([1, 2]), [1, 2, 3]];
  const stream: TextStream = lm.generate(prompts[0]!, generateOptions);
  let text = "";
  for await (const piece of stream) text += piece;
  const logits: Float32Array = await lm.logits(messages, logitsOptions);
  const chat: string = lm.applyChatTemplate(messages);
  const tokens: Uint32Array = lm.tokenize(chat);
  const adapter: Adapter = await lm.finetune(textExamples, { ...finetuneOptions(textExamples), method: "lora" });
  const merged: number = await lm.loadAdapter(adapter.toSafetensors(), adapterOptions);
  lm.unloadAdapter();
  const info: TextModelInfo = lm.info();
  console.log(text, stats(stream.stats()), logits.length, tokens.length, merged, info.modelType, info.device, info.deviceKind, info.vocab);
  console.log(info.maxPositions, info.eosTokenIds, info.chatTemplate, info.gpuBytes, loadStats(info.load, info.cache));
  // @ts-expect-error options are camelCase: `maxNewTokens`
  lm.generate("hi", { max_new_tokens: 8 });
  lm.dispose();
}

async function hubAndChat(): Promise<void> {
  const where: Env = env;
  where.remoteHost = "https://example.org/";
  where.allowLocalModels = true;
  const seen: Progress[] = [];
  const lm = await TextModel.load("HuggingFaceTB/SmolLM2-135M-Instruct", { revision: "main", onProgress: (p) => seen.push(p) });
  const overall: number = seen.at(-1)?.overall ?? 0;
  const weather: ChatTool = {
    type: "function",
    function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
  };
  const params: Required<ChatCompletionCreateParams> = {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Weather in Lisboa?" }] },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Lisboa"}' } }] },
      { role: "tool", content: "18 C, clear", tool_call_id: "call_1" },
    ],
    model: "smollm2",
    stream: false,
    stream_options: { include_usage: true },
    max_tokens: 64,
    max_completion_tokens: 64,
    temperature: 0,
    top_p: 1,
    stop: ["\n\n"],
    seed: 1,
    n: 1,
    response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } },
    tools: [weather],
    tool_choice: "auto",
    repetition_penalty: 1,
    frequency_penalty: 0,
    presence_penalty: 0,
    signal: controller.signal,
  };
  const reply: ChatCompletion = await lm.chat.completions.create({ ...params, stream: false });
  const call = reply.choices[0]?.message.tool_calls?.[0];
  console.log(overall, reply.choices[0]?.message.content, reply.choices[0]?.finish_reason, reply.usage.total_tokens, call?.function.arguments);
  const chunks: AsyncIterableIterator<ChatCompletionChunk> = await lm.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], stream: true });
  for await (const chunk of chunks) console.log(chunk.choices[0]?.delta.content ?? "", chunk.usage?.completion_tokens);
  try {
    await lm.chat.completions.create({ messages: [] });
  } catch (e) {
    if (e instanceof APIError) console.log(e.status, e.error.message, e.param, e.code, e.type);
    if (e instanceof ModelNotFoundError) console.log(e.tried);
  }
  const prompt: string = lm.applyChatTemplate(params.messages, { tools: [weather] });
  console.log(prompt);
}

async function workers(): Promise<void> {
  const w: WorkerModel = await WorkerModel.load("/models/minilm/", workerLoadOptions);
  const e: Float32Array = await w.embed("hello", embedOptions);
  const es: Float32Array[] = await w.embed(["a", "b"]);
  const c: LabelScore[] = await w.classify("good", classifyOptions);
  const cs: LabelScore[][] = await w.classify(["good", "bad"]);
  const z: LabelScore[] = await w.zeroShot("a match", ["sport"], zeroShotOptions);
  const s: number = await w.similarity("a", "b");
  const t: { ids: number[]; truncated: boolean } = await w.tokenize("hello", encodeOptions);
  const adapter: WorkerAdapter = await w.finetune(labelled, finetuneOptions(labelled));
  const labels: string[] = await w.loadAdapter(adapter.toSafetensors());
  await w.unloadAdapter();
  const info: ModelInfo = w.info();
  console.log(e.length, es.length, top(c), cs.length, top(z), s, t.ids, report(adapter.report), labels, info.arch, adapter.configJson());
  w.dispose();

  const lm: WorkerTextModel = await WorkerTextModel.load("/models/smollm2/", { device: "cpu" });
  const stream: WorkerTextStream = lm.generate([{ role: "user", content: "Hi" }], generateOptions);
  for await (const piece of stream) console.log(piece);
  const logits: Float32Array = await lm.logits("Hello", logitsOptions);
  const chat: string = await lm.applyChatTemplate([{ role: "user", content: "Hi" }]);
  const ids: Uint32Array = await lm.tokenize(chat);
  const answer = await lm.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], response_format: { type: "json_object" } });
  console.log(answer.choices[0]?.message.content);
  const tuned: WorkerAdapter = await lm.finetune(textExamples, { ...finetuneOptions(textExamples), method: "lora" });
  const merged: number = await lm.loadAdapter(tuned.toSafetensors(), adapterOptions);
  await lm.unloadAdapter();
  const info2: TextModelInfo = lm.info();
  console.log(stats(stream.stats()), logits.length, ids.length, merged, info2.modelType);
  lm.dispose();

  const byTask: WorkerTextModel = await createWorkerModel("/models/smollm2/", { task: "generate", device: "cpu" });
  byTask.dispose();
  const byDefault: WorkerModel = await createWorkerModel("/models/minilm/", workerCreateOptions);
  byDefault.dispose();
  // @ts-expect-error a function cannot cross to the Worker
  await WorkerModel.load("/models/minilm/", { fetch: (url: string) => fetch(url) });
}

async function main(): Promise<void> {
  await init(initOptions);
  const gpu: AdapterInfo = await adapterInfo();
  const mem: MemoryStats = await memoryStats({ resetPeak: true });
  console.log(mem.heapBytes, mem.peakHeapBytes, mem.wasmMemoryBytes);
  console.log(gpu.available, gpu.reason, gpu.name, gpu.vendor, gpu.isFallbackAdapter, gpu.features, gpu.limits?.maxStorageBufferBindingSize);
  const usage: { files: number; bytes: number } = await cacheUsage();
  const cleared: boolean = await clearCache();
  console.log(usage.files, usage.bytes, cleared);
  await encoders();
  await decoders();
  await workers();
  await hubAndChat();
}

void main();
