// Load progress with status, as transformers.js reports it: per file
// "initiate" and "download" (the response arrived: files the folder does not
// have are not reported), "progress"
// (bytes read) and "done"; "ready" once the model is built. Every event has
// `{ status, name, file, loaded, total, progress }` (`progress` in percent of
// the file, as transformers.js) and `overall`: the fraction (0..1) of the
// whole model's bytes read so far, across all its files. The weights' size
// is known once the first weights response (or the shard index) arrives;
// `overall` is 0 before that and never goes back.

const isWeights = (file) => file.endsWith(".safetensors");
const INDEX = "model.safetensors.index.json";

const baseName = (url) => {
  const path = String(url).split(/[?#]/)[0];
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
};

/** `base`: the model's folder URL, when known: files are named by their path in it (`1_Pooling/config.json`). */
/** `resp` again, its body calling `onChunk(bytesSoFar)` per chunk and `onEnd(bytes)` at its end. */
export function countedResponse(resp, onChunk, onEnd) {
  let loaded = 0;
  const counted = resp.body.pipeThrough(
    new TransformStream({
      transform(chunk, c) {
        loaded += chunk.byteLength;
        onChunk(loaded);
        c.enqueue(chunk);
      },
      flush() {
        onEnd?.(loaded);
      },
    }),
  );
  return new Response(counted, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
}

export function progressTracker(onProgress, name, base = null) {
  const files = new Map(); // file -> { loaded, total }
  const fetched = new Set();
  let weightsTotal = null; // bytes of all weight files, once known
  let last = 0;

  function overall() {
    if (weightsTotal === null) return 0;
    let loaded = 0;
    let small = 0;
    let weights = 0;
    for (const [file, f] of files) {
      loaded += f.loaded;
      if (isWeights(file)) weights += f.total ?? 0;
      else small += f.total ?? f.loaded;
    }
    const total = small + Math.max(weightsTotal, weights);
    last = Math.max(last, total > 0 ? Math.min(1, loaded / total) : 0);
    return last;
  }

  function emit(status, file, extra = {}) {
    if (!onProgress) return;
    const f = files.get(file) ?? { loaded: 0, total: undefined };
    const progress = f.total ? (100 * f.loaded) / f.total : status === "done" ? 100 : 0;
    try {
      onProgress({ status, name, file, loaded: f.loaded, total: f.total, progress, overall: overall(), ...extra });
    } catch (e) {
      console.error(e);
    }
  }

  /** Learns the weights' size from a response's headers, or from the shard index's metadata. */
  async function learn(file, resp) {
    const total = Number(resp.headers.get("content-length")) || undefined;
    files.set(file, { loaded: 0, total });
    if (weightsTotal === null && isWeights(file) && total) weightsTotal = total;
    if (file === INDEX && weightsTotal === null) {
      try {
        const index = await resp.clone().json();
        const size = Number(index?.metadata?.total_size);
        if (size > 0) weightsTotal = size;
      } catch {
        // a malformed index fails the load in the wasm side, with its reason
      }
    }
  }

  /** `fetchFn` with an event per stage of every file it fetches, and its bytes counted. */
  function wrap(fetchFn) {
    return async (url) => {
      const file = base && String(url).startsWith(base) ? decodeURIComponent(String(url).slice(base.length)) : baseName(url);
      fetched.add(file);
      const resp = await fetchFn(url);
      // An optional file the folder does not have (404) is not reported.
      if (!resp.ok || !resp.body) return resp;
      await learn(file, resp);
      emit("initiate", file);
      emit("download", file);
      const f = files.get(file);
      return countedResponse(
        resp,
        (loaded) => {
          f.loaded = loaded;
          emit("progress", file);
        },
        (loaded) => {
          f.total ??= loaded;
          emit("done", file);
        },
      );
    };
  }

  /** The wasm loader's own reports (`{file, loaded, total}`), for weights given as bytes rather than fetched. */
  function raw(p) {
    if (p?.file === undefined || fetched.has(p.file)) return;
    const known = files.get(p.file);
    if (!known) {
      files.set(p.file, { loaded: 0, total: p.total });
      if (isWeights(p.file)) weightsTotal = (weightsTotal ?? 0) + (p.total ?? 0);
      emit("initiate", p.file);
    }
    files.get(p.file).loaded = p.loaded;
    emit("progress", p.file);
    if (p.total !== undefined && p.loaded >= p.total) emit("done", p.file);
  }

  return { wrap, raw, ready: () => onProgress && emit("ready", "", { overall: (last = 1) }) };
}
