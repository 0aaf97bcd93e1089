// webfm/worker: the same models in a dedicated Worker. Every method returns a
// promise (or a stream); the page's main thread only posts messages.

import type {
  ChatMessage, ClassifyOptions, EmbedOptions, EncodeOptions, GenerateOptions, GenerationStats,
  LabelScore, LoadOptions, ModelInfo, ModelSource, TextModelInfo, ZeroShotOptions,
} from "./index.js";

/** As `LoadOptions`, without `fetch` (a function cannot cross to the Worker), plus a `signal` that cancels loading. */
export interface WorkerLoadOptions extends Omit<LoadOptions, "fetch"> {
  signal?: AbortSignal;
}

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
}

/** `TextModel` (decoders) running in a Worker. */
export class WorkerTextModel extends WorkerBase {
  private constructor();
  static load(source: ModelSource, options?: WorkerLoadOptions): Promise<WorkerTextModel>;
  info(): TextModelInfo;
  generate(prompt: string | ChatMessage[], options?: GenerateOptions): WorkerTextStream;
  logits(prompt: string | ChatMessage[], options?: { all?: boolean }): Promise<Float32Array>;
  applyChatTemplate(messages: ChatMessage[]): Promise<string>;
  tokenize(text: string): Promise<Uint32Array>;
}

/** `WorkerTextModel.load` for `task: "generate"`, else `WorkerModel.load`. */
export function createWorkerModel(source: ModelSource, options: WorkerLoadOptions & { task: "generate" }): Promise<WorkerTextModel>;
export function createWorkerModel(source: ModelSource, options?: WorkerLoadOptions & { task?: "embed" | "classify" }): Promise<WorkerModel>;
