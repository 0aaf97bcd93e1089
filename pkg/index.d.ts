// webfm — foundation models in the web page (WebGPU, with a wasm SIMD CPU path).
// Types for the package's entry point ("webfm"). The Worker variants are in worker.d.ts.

/** Where a model's files come from. */
export type Bytes = ArrayBuffer | Uint8Array;
/** One file: a URL (absolute or relative to the page), a `Response`, or its bytes. */
export type FileSource = string | URL | Response | Bytes;

/**
 * A model: an id on a model hub (`"owner/name"`, resolved through `env`:
 * `{remoteHost}{owner/name}/resolve/{revision}/{file}`, with
 * `{localModelPath}{owner/name}/` tried first where local models are
 * allowed), a folder URL in the Hugging Face layout (`config.json`,
 * `tokenizer.json`, `model.safetensors` or sharded `*.safetensors` with
 * `model.safetensors.index.json`, and the optional files below), or the
 * files one by one (other keys throw: "model source: unknown field ...").
 * JSON files may also be given as parsed objects. A string with a scheme,
 * a leading `/` or `.`, or a trailing `/` is a folder URL; other strings of
 * the form `name` or `owner/name` are ids.
 */
export type ModelSource =
  | string
  | URL
  | {
      config: FileSource | object;
      tokenizer: FileSource | object;
      /** One file, or the shards in any order. */
      weights: FileSource | FileSource[];
      /** sentence-transformers' `1_Pooling/config.json`. */
      pooling?: FileSource | object;
      /** sentence-transformers' `sentence_bert_config.json` (max_seq_length). */
      sentenceConfig?: FileSource | object;
      /** sentence-transformers' `modules.json` (Normalize). */
      modules?: FileSource | object;
      /** `tokenizer_config.json` (chat template, eos token). */
      tokenizerConfig?: FileSource | object;
    };

/**
 * A step of a load, as transformers.js reports it: per file `"initiate"`
 * (requested), `"download"` (the response arrived, from the network or the
 * cache), `"progress"` (bytes read) and `"done"`; `"ready"` once the model
 * is built; `"wasm"` for the .wasm module's own download and compile.
 * `loaded`/`total` are the file's bytes (total when the server says).
 */
export interface Progress {
  status?: "initiate" | "download" | "progress" | "done" | "ready" | "wasm";
  /** The model as given to `load` (its id or URL). */
  name?: string;
  file?: string;
  loaded?: number;
  total?: number;
  /** Percent (0–100) of this file. */
  progress?: number;
  /**
   * Fraction (0–1) of the whole model's bytes, across all its files: 0
   * until the weights' size is known (their response or the shard index),
   * never decreasing, 1 at `"ready"`.
   */
  overall?: number;
  /** `"compiled"` once the .wasm is ready. */
  phase?: "compiled";
  /** Set when something went wrong that did not stop the load (e.g. the cache is full). */
  warning?: string;
}

/** Where model ids resolve (transformers.js's names). Change the fields before loading. */
export interface Env {
  /** Default `"https://huggingface.co/"`. */
  remoteHost: string;
  /** Default `"{model}/resolve/{revision}/"`. */
  remotePathTemplate: string;
  /** Tried first when `allowLocalModels`: `{localModelPath}{id}/`. Default `"/models/"`. */
  localModelPath: string;
  /** Default true. */
  allowRemoteModels: boolean;
  /** Default false in browsers, true in Node. */
  allowLocalModels: boolean;
}
export const env: Env;

/** No folder could be found for a model id (`tried`: the URLs asked). */
export class ModelNotFoundError extends Error {
  readonly tried: string[];
}

export type DeviceRequest = "auto" | "webgpu" | "cpu";

// Every options object is checked: a field that is not one of its options
// throws an Error that names it and lists the valid ones
// ("generate options: unknown field `max_new_tokens`, expected one of `maxNewTokens`, ...").

export interface LoadOptions {
  /** `"auto"` (default): WebGPU when the browser has an adapter, else the CPU path. */
  device?: DeviceRequest;
  /** Quantize float weights on load to 4 or 8 bits (already-quantized files load as they are). */
  bits?: 4 | 8;
  /** Group size for `bits`: 32, 64 (default) or 128. */
  group?: 32 | 64 | 128;
  /** Called while files download and the .wasm compiles. */
  onProgress?: (p: Progress) => void;
  /** For models given by id: a branch, tag or commit (default `"main"`). */
  revision?: string;
  /**
   * The Cache API: `true` (default) serves a stored file without asking the
   * server; `"revalidate"` sends a HEAD first and downloads again when the
   * ETag or size changed; `false` never reads or writes the cache.
   */
  cache?: boolean | "revalidate";
  /** Fetches every URL instead of the global `fetch` (turns the cache off). */
  fetch?: (url: string) => Promise<Response>;
  /** Cancels the load at its next request or chunk: it rejects with an `AbortError` and frees what it had allocated. */
  signal?: AbortSignal;
  /**
   * The SHA-256 each file must have, by file name, in the Subresource
   * Integrity form: `{ "model.safetensors": "sha256-<base64>" }`. Checked as
   * each file streams; a mismatch fails the load with an `IntegrityError`
   * naming both hashes and leaves nothing in the cache. A sharded folder's
   * `model.safetensors.index.json` may carry its shards' in an `integrity`
   * object. (Cached files are checked against the digest stored with them
   * whether or not this is given.)
   */
  integrity?: Record<string, string>;
  /**
   * Called after the GPU device was lost and the model reloaded itself (on a
   * new device, or on the CPU path for `device: "auto"`), or failed to.
   */
  onDeviceLost?: (event: DeviceLostEvent) => void;
}

/** A lost GPU device and what the model did about it. */
export interface DeviceLostEvent {
  /** The browser's reason and message. */
  reason: string;
  /** `info().device` before and after (null when the reload failed). */
  from: string;
  to: string | null;
  recovered: boolean;
  /** Why the reload failed; later calls throw it as a `DeviceLost` error. */
  error: string | null;
}

/** Where each fetched file came from, and whether it was stored. */
export interface CacheEntry {
  url: string;
  from: "cache" | "network";
  bytes?: number;
  stored?: boolean;
}

/** What loading measured. */
export interface LoadStats {
  files: string[];
  tensors: number;
  bytes: number;
  /** The most bytes of a weights file held in wasm memory at once (weights stream). */
  peakBufferedBytes: number;
  wasmMemoryBytes: number;
  gpuBytes: number;
  millis: number;
}

export interface InitOptions {
  /** Where the .wasm is (default: `webfm_bg.wasm` next to this file). */
  wasm?: string | URL | Response | Bytes | WebAssembly.Module;
  onProgress?: (p: Progress) => void;
}

/** Loads and compiles the WebAssembly module once. The `load` functions call it; calling it early overlaps the download. */
export function init(options?: InitOptions): Promise<void>;

/** Deletes every cached model file. True when there was a cache to delete. */
export function clearCache(): Promise<boolean>;

/** How many files and bytes the model cache holds. */
export function cacheUsage(): Promise<{ files: number; bytes: number }>;

export interface AdapterInfo {
  available: boolean;
  /** Why there is no adapter (when `available` is false). */
  reason?: string;
  name?: string;
  vendor?: string;
  architecture?: string;
  driver?: string;
  backend?: string;
  deviceType?: string;
  /** True for software adapters (SwiftShader): the CPU path is usually faster there. */
  isFallbackAdapter?: boolean;
  features?: string[];
  limits?: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
}

/** The WebGPU adapter this page would use. */
export function adapterInfo(): Promise<AdapterInfo>;

/** The wasm heap of this page (or Worker): see `memoryStats()` in docs/API.md. */
export interface MemoryStats {
  /** Bytes allocated and not yet freed. */
  heapBytes: number;
  /** The most `heapBytes` since the last `resetPeak` (or the start). */
  peakHeapBytes: number;
  /** The wasm linear memory's size: the heap's high-water mark, it never shrinks. */
  wasmMemoryBytes: number;
}
export function memoryStats(options?: { resetPeak?: boolean }): Promise<MemoryStats>;

// ---- encoders -----------------------------------------------------------------

export interface EncodeOptions {
  /** Cut texts longer than the model's positions (default true); false makes them an error. */
  truncate?: boolean;
  /** A lower token limit than the model's. */
  maxTokens?: number;
}

export interface EmbedOptions extends EncodeOptions {
  /** L2-normalise (default: what the folder's sentence-transformers config says, else true). */
  normalize?: boolean;
  /** Default: the folder's `1_Pooling/config.json`, else mean. */
  pooling?: "mean" | "cls";
}

export interface LabelScore {
  label: string;
  /** Softmax probability (classification) or its zero-shot counterpart. */
  score: number;
}

export interface ClassifyOptions extends EncodeOptions {
  /** Keep the k best labels (default: all). */
  topK?: number;
}

export interface ZeroShotOptions extends EncodeOptions {
  /** The hypothesis each label is put into (default `"This text is about {}."`). */
  template?: string;
}

export interface ModelInfo {
  arch: string;
  device: string;
  deviceKind: "webgpu" | "cpu";
  hidden: number;
  layers: number;
  heads: number;
  vocab: number;
  maxTokens: number;
  pooling: "mean" | "cls";
  normalize: boolean;
  /** `id2label` of a classification checkpoint, in id order. */
  labels: string[] | null;
  classifier: boolean;
  quantization: { bits: number; group: number } | null;
  /** The loaded classifier adapter, if any. */
  adapter: { labels: string[]; lora: boolean } | null;
  gpuBytes: number;
  load: LoadStats;
  cache: CacheEntry[];
  /** Every lost GPU device so far, and what came of it. */
  deviceLost: DeviceLostEvent[];
}

// ---- fine-tuning ---------------------------------------------------------------

/** What each training step reports. */
export interface StepInfo {
  /** 1-based, of `steps`. */
  step: number;
  steps: number;
  /** 1-based. */
  epoch: number;
  /** The batch's mean loss before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The learning rate this step used (warm-up, then linear decay). */
  lr: number;
  examplesPerSecond: number;
}

export interface FinetuneOptions<E> {
  /** Encoders: "head" or "head+lora" (default); decoders: "lora". */
  method?: "head" | "lora" | "head+lora";
  /** LoRA rank (8) and alpha (16): the adapter's output is scaled by alpha / rank. */
  rank?: number;
  alpha?: number;
  /** Module names LoRA adapts (PEFT's target_modules): default query/value (BERT), q_proj/v_proj (Llama). */
  targets?: string[];
  /** Peak learning rate (1e-3). */
  lr?: number;
  epochs?: number;
  batchSize?: number;
  /** Makes the initial adapter and the shuffling repeatable (on the same device path). */
  seed?: number;
  /** Warm-up as a fraction of all steps (0.1), then linear decay to 0. */
  warmup?: number;
  weightDecay?: number;
  /** Clip gradients to this global norm (1; 0 turns clipping off). */
  maxGradNorm?: number;
  /** Tokens per example (default: the model's limit); longer ones are cut and counted. */
  maxTokens?: number;
  /** Evaluated once training ends: accuracy and loss (classifiers) or loss (decoders) in `report`. */
  evalExamples?: E[];
  /** After every step. The page gets a turn between steps. */
  onStep?: (s: StepInfo) => void;
  /** Stops at the next step; the adapter keeps what was trained so far. */
  signal?: AbortSignal;
}

export interface TrainingReport {
  steps: number;
  stopped: boolean;
  trainLoss: number[];
  examplesPerSecond: number;
  /** Examples cut to the token limit. */
  truncated: number;
  /** Classifiers: the labels, in the head's order. */
  labels?: string[];
  evalAccuracy: number | null;
  evalLoss: number | null;
  /** The most GPU buffer memory held during training (0 on the CPU path). */
  peakGpuBytes: number;
}

/** A trained adapter, in PEFT's format. */
export class Adapter {
  private constructor();
  /** `adapter_model.safetensors`; `loadAdapter` takes these bytes alone. */
  toSafetensors(): Uint8Array;
  /** `adapter_config.json` (PEFT reads it with the safetensors file). */
  configJson(): string;
  readonly report: TrainingReport;
}

/** An adapter to load: bytes from `toSafetensors()`, or PEFT's two files. */
export type AdapterSource = Bytes | { config: string | object | Bytes; weights: Bytes };

/** An encoder (BERT, MiniLM, DistilBERT): embeddings, classification, zero-shot, similarity. */
export class Model {
  private constructor();
  static load(source: ModelSource, options?: LoadOptions): Promise<Model>;
  /** One embedding per text. */
  embed(texts: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Labels best first (needs a classification head). */
  classify(texts: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(texts: string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  /** A text against candidate labels by embedding similarity; for models without a head. */
  zeroShot(text: string, labels: string[], options?: ZeroShotOptions): Promise<LabelScore[]>;
  /** Cosine similarity of two texts' embeddings. */
  similarity(a: string, b: string): Promise<number>;
  /** Trains a classification head (and LoRA) on labelled texts; `classify` uses it from then on. */
  finetune(examples: { text: string; label: string | number }[], options?: FinetuneOptions<{ text: string; label: string | number }>): Promise<Adapter>;
  /** Uses an adapter for `classify`; resolves to its labels. An adapter for another model is refused. */
  loadAdapter(source: AdapterSource): Promise<string[]>;
  /** Back to the model's own head (or zero-shot). */
  unloadAdapter(): void;
  /** The token ids the model would see. */
  tokenize(text: string, options?: EncodeOptions): { ids: number[]; truncated: boolean };
  info(): ModelInfo;
  /** Frees the GPU memory and wasm objects now; later calls throw. */
  dispose(): void;
}

// ---- decoders -----------------------------------------------------------------

export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string;
}

/** A JSON schema (draft 2020-12 keywords llguidance supports: type, properties, required, enum, const, items, anyOf, pattern, min/max...). */
export type JsonSchema = { [key: string]: unknown };

export interface GenerateOptions {
  /** Default 128. */
  maxNewTokens?: number;
  /** 0 (default) is greedy. */
  temperature?: number;
  topK?: number;
  /** Nucleus sampling, in (0, 1]. */
  topP?: number;
  /** > 1 discourages repeating tokens (CTRL-style, as transformers). */
  repetitionPenalty?: number;
  /** Makes sampling repeatable on the same device path. */
  seed?: number;
  /** Generation ends before any of these strings; they are not in the text. */
  stop?: string | string[];
  /** Cancels at the next token; the model stays usable. */
  signal?: AbortSignal;
  /** Each new token id as soon as it is known. */
  onToken?: (id: number) => void;
  /** Keep going past the end-of-sequence token. */
  ignoreEos?: boolean;
  /**
   * Constrained decoding (at most one of these three): only tokens that keep
   * the output valid can be picked. A JSON schema, or `true` for any JSON object.
   */
  jsonSchema?: JsonSchema | true;
  /** A regular expression the whole output matches. */
  regex?: string;
  /** A Lark grammar (llguidance's dialect, e.g. `start: "yes" | "no"`). */
  grammar?: string;
}

export interface LogitsOptions {
  /** Every position's logits, row after row, not only the last position's. */
  all?: boolean;
}

export interface AdapterOptions {
  /**
   * Fold the adapter into f32 weights (default true): no extra cost per
   * token. Quantized or f16 weights keep it beside.
   */
  merge?: boolean;
}

/** A prompt: text, chat messages (through the chat template), or token ids. */
export type Prompt = string | ChatMessage[] | Uint32Array | number[];

/** A decoder training example: the loss is on the completion (or the whole text). */
export type TextExample = { prompt: string; completion: string } | { text: string };

export interface GenerationStats {
  promptTokens: number;
  newTokens: number;
  ids: number[];
  /** Null while running. */
  finish: "eos" | "stop" | "length" | "cancelled" | null;
  msFirstToken: number;
  tokensPerSecond: number;
  kvCacheBytes: number;
  /** Milliseconds spent computing grammar masks (constrained decoding). */
  maskMs: number;
}

// ---- the OpenAI-style chat API ------------------------------------------------

export type ChatContentPart = { type: "text"; text: string };

export interface ChatToolCall {
  id: string;
  type: "function";
  /** `arguments` is JSON text, as OpenAI's API has it. */
  function: { name: string; arguments: string };
}

export type ChatCompletionMessageParam =
  | { role: "system" | "developer"; content: string | ChatContentPart[]; name?: string }
  | { role: "user"; content: string | ChatContentPart[]; name?: string }
  | { role: "assistant"; content?: string | ChatContentPart[] | null; tool_calls?: ChatToolCall[] }
  | { role: "tool"; content: string | ChatContentPart[]; tool_call_id: string };

export interface ChatTool {
  type: "function";
  function: { name: string; description?: string; parameters?: JsonSchema };
}

export type ResponseFormat = { type: "text" } | { type: "json_object" } | { type: "json_schema"; json_schema: { name?: string; description?: string; schema: JsonSchema; strict?: boolean } };

export interface ChatCompletionCreateParams {
  messages: ChatCompletionMessageParam[];
  /** Reported back in the reply's `model`; the model is the one loaded. */
  model?: string;
  stream?: boolean;
  /** `include_usage` defaults to true: the last chunk has `usage`. */
  stream_options?: { include_usage?: boolean };
  /** Default: the room left in the context, at most 1024. */
  max_tokens?: number;
  max_completion_tokens?: number;
  /** Default 1, as OpenAI; 0 is greedy. */
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
  /** Choices, each with seed `seed + i` (1 with `stream`). */
  n?: number;
  response_format?: ResponseFormat;
  tools?: ChatTool[];
  /** `"auto"` (default with tools): a call or plain text (plain text then cannot begin with "<"). */
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } };
  /** webfm's own; `frequency_penalty`/`presence_penalty` other than 0 are refused. */
  repetition_penalty?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  signal?: AbortSignal;
}

export type ChatFinishReason = "stop" | "length" | "tool_calls" | "abort";

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: { index: number; message: { role: "assistant"; content: string | null; tool_calls?: ChatToolCall[] }; logprobs: null; finish_reason: ChatFinishReason }[];
  usage: ChatCompletionUsage;
  system_fingerprint: null;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  /** Empty in the last chunk, which carries `usage`. */
  choices: { index: number; delta: { role?: "assistant"; content?: string; tool_calls?: (ChatToolCall & { index: number })[] }; logprobs: null; finish_reason: ChatFinishReason | null }[];
  usage?: ChatCompletionUsage;
}

export interface ChatCompletions {
  create(params: ChatCompletionCreateParams & { stream: true }): Promise<AsyncIterableIterator<ChatCompletionChunk>>;
  create(params: ChatCompletionCreateParams & { stream?: false }): Promise<ChatCompletion>;
  create(params: ChatCompletionCreateParams): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>>;
}

/** An error as OpenAI's SDK shapes it (a bad request is a `BadRequestError`, status 400). */
export class APIError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly error: { message: string; type: string; param: string | null; code: string | null };
}

/** Text pieces as they are generated: `for await (const piece of stream)`; `break` cancels. */
export interface TextStream extends AsyncIterableIterator<string> {
  stats(): GenerationStats | null;
}

export interface TextModelInfo {
  modelType: string;
  device: string;
  deviceKind: "webgpu" | "cpu";
  vocab: number;
  maxPositions: number;
  eosTokenIds: number[];
  chatTemplate: boolean;
  gpuBytes: number;
  load: LoadStats;
  cache: CacheEntry[];
  /** Every lost GPU device so far, and what came of it. */
  deviceLost: DeviceLostEvent[];
}

/** A decoder (Llama, SmolLM2, Qwen2, Mistral, GPT-2): streamed generation, chat templates, logits. */
export class TextModel {
  private constructor();
  static load(source: ModelSource, options?: LoadOptions): Promise<TextModel>;
  /**
   * Streams generated text. `prompt` is a string or chat messages (put
   * through the model's chat template). Bad options throw here, before
   * anything runs; one generation runs at a time per model (others wait).
   */
  generate(prompt: Prompt, options?: GenerateOptions): TextStream;
  /** The vocabulary's logits at the last position (every position, row after row, with `all`). */
  logits(prompt: Prompt, options?: LogitsOptions): Promise<Float32Array>;
  /** The prompt `generate` would see for these messages (with `tools` for templates that render them). */
  applyChatTemplate(messages: ChatMessage[] | ChatCompletionMessageParam[], options?: { tools?: ChatTool[] }): string;
  /** An OpenAI-style chat API over this model. */
  readonly chat: { completions: ChatCompletions };
  /** Trains LoRA adapters (Llama family); generation uses them from then on. Waits for a running generation. */
  finetune(examples: TextExample[], options?: FinetuneOptions<TextExample>): Promise<Adapter>;
  /** Adds a LoRA adapter to generation. Resolves to the number of layers merged. */
  loadAdapter(source: AdapterSource, options?: AdapterOptions): Promise<number>;
  unloadAdapter(): void;
  tokenize(text: string): Uint32Array;
  info(): TextModelInfo;
  /** Frees the GPU memory and wasm objects now; later calls throw. */
  dispose(): void;
}
