// webfm/worker: the same models in a dedicated Worker. Every method returns a
// promise (or a stream); the page's main thread only posts messages.

import type {
  AdapterOptions, AdapterSource, ChatCompletionMessageParam, ChatCompletions, ChatMessage, ChatTool, ClassifyOptions, EmbedOptions, EncodeOptions, FinetuneOptions, GenerateOptions, GenerationStats,
  LabelScore, LoadOptions, LogitsOptions, ModelInfo, ModelSource, Prompt, TextExample, TextModelInfo, TrainingReport, ZeroShotOptions,
} from "./index.js";

/** An adapter trained in the Worker: its bytes came across. */
export interface WorkerAdapter {
  toSafetensors(): Uint8Array;
  configJson(): string;
  readonly report: TrainingReport;
}

/** As `LoadOptions`, without `fetch` (a function cannot cross to the Worker); `signal` terminates the Worker. */
export interface WorkerLoadOptions extends Omit<LoadOptions, "fetch"> {}

/** Text pieces streamed from the Worker; `break`, `return()` or the options' `signal` cancel it there. */
export interface WorkerTextStream extends AsyncIterableIterator<string> {
  /** Null until the iteration has ended. */
  stats(): GenerationStats | null;
}

declare class WorkerBase {
  /** What the model reported when it loaded. */
  info(): ModelInfo | TextModelInfo;
  /** Terminates the Worker: the model, its GPU device and pending calls end now. */
  dispose(): void;
}

/** `Model` (encoders) running in a Worker. */
export class WorkerModel extends WorkerBase {
  private constructor();
  static load(source: ModelSource, options?: WorkerLoadOptions): Promise<WorkerModel>;
  info(): ModelInfo;
  embed(texts: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  classify(texts: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(texts: string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  zeroShot(text: string, labels: string[], options?: ZeroShotOptions): Promise<LabelScore[]>;
  similarity(a: string, b: string): Promise<number>;
  tokenize(text: string, options?: EncodeOptions): Promise<{ ids: number[]; truncated: boolean }>;
  finetune(examples: { text: string; label: string | number }[], options?: FinetuneOptions<{ text: string; label: string | number }>): Promise<WorkerAdapter>;
  loadAdapter(source: AdapterSource): Promise<string[]>;
  unloadAdapter(): Promise<void>;
}

/** `TextModel` (decoders) running in a Worker. */
export class WorkerTextModel extends WorkerBase {
  private constructor();
  static load(source: ModelSource, options?: WorkerLoadOptions): Promise<WorkerTextModel>;
  info(): TextModelInfo;
  generate(prompt: Prompt, options?: GenerateOptions): WorkerTextStream;
  logits(prompt: Prompt, options?: LogitsOptions): Promise<Float32Array>;
  applyChatTemplate(messages: ChatMessage[] | ChatCompletionMessageParam[], options?: { tools?: ChatTool[] }): Promise<string>;
  /** The OpenAI-style chat API, generating in the Worker. */
  readonly chat: { completions: ChatCompletions };
  tokenize(text: string): Promise<Uint32Array>;
  finetune(examples: TextExample[], options?: FinetuneOptions<TextExample>): Promise<WorkerAdapter>;
  loadAdapter(source: AdapterSource, options?: AdapterOptions): Promise<number>;
  unloadAdapter(): Promise<void>;
}

/** `WorkerLoadOptions` and the task that picks the class. */
export interface WorkerCreateOptions extends WorkerLoadOptions {
  /** "embed" / "classify" (default "embed"): a `WorkerModel`; "generate": a `WorkerTextModel`. */
  task?: "embed" | "classify" | "generate";
}

/** `WorkerTextModel.load` for `task: "generate"`, else `WorkerModel.load`. */
export function createWorkerModel(source: ModelSource, options: WorkerCreateOptions & { task: "generate" }): Promise<WorkerTextModel>;
export function createWorkerModel(source: ModelSource, options?: WorkerCreateOptions & { task?: "embed" | "classify" }): Promise<WorkerModel>;
