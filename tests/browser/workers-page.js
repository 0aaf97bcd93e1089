// The page side of workers.test.mjs (imported into tests/browser/ops.html):
// the package's classes, and small runs of them whose results the test
// compares with an undisturbed run. Every result is plain data (arrays, not
// typed arrays), so that node's deepEqual can compare it.

export { Model, TextModel, clearCache } from "/pkg/index.js";
export { WorkerModel, WorkerTextModel } from "/pkg/worker.js";
export { CACHE_NAME } from "/pkg/cache.js";

export const QWEN = "/tests/models/tiny-qwen2/";
export const BERT = "/tests/models/tiny-bert-cls/";
export const SMOLLM2 = "/models/smollm2/";

/** One turn of the page's event loop, as a page's own handlers would give the other work. */
export const turn = () => new Promise((r) => setTimeout(r, 0));

/**
 * `n` greedy tokens after `prompt` (a string or chat messages): the new ids
 * and the streamed text; `first`/`last` are when the first and last pieces
 * came (page clock, ms). `onPiece(count)` sees each piece.
 */
export async function generate(lm, prompt, n, onPiece) {
  const it = lm.generate(prompt, { maxNewTokens: n, ignoreEos: true, temperature: 0 });
  let text = "", pieces = 0, first = null, last = null;
  for await (const piece of it) {
    text += piece;
    first ??= performance.now();
    last = performance.now();
    onPiece?.(++pieces);
  }
  return { ids: Array.from(it.stats().ids), text, first, last };
}

/** An encoder's embeddings and labels for `texts`. */
export async function encode(enc, texts) {
  const embeddings = (await enc.embed(texts)).map((e) => Array.from(e));
  const labels = await enc.classify(texts);
  return { embeddings, labels };
}

/**
 * Runs `f` again and again, a turn of the page between runs, until `stop`
 * settles, then twice more; returns every result with `at`, the time it
 * ended (page clock, ms).
 */
export async function busyUntil(stop, f) {
  let stopped = false;
  stop.then(() => (stopped = true), () => (stopped = true));
  const out = [];
  let more = 2;
  while (!stopped || more-- > 0) {
    out.push({ ...(await f()), at: performance.now() });
    await turn();
  }
  return out;
}
