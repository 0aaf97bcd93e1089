// Integrity of model files. A load's `integrity` option names the SHA-256
// each file must have, in the Subresource Integrity form
// (`{ "model.safetensors": "sha256-<base64>" }`); a sharded folder's
// `model.safetensors.index.json` may carry its shards' in an `integrity`
// object. Each file is hashed as its body streams into the loader (the
// wasm's incremental SHA-256: Web Crypto only digests whole buffers), and a
// mismatch errors the body at its end, so the load fails, naming both
// hashes. The cache (cache.js) keeps the digest of every file it stores and
// checks it again as a cached file is read back.

import { Sha256 } from "./webfm.js";

export const INDEX_FILE = "model.safetensors.index.json";

/** A file whose bytes are not the ones expected. */
export class IntegrityError extends Error {
  constructor(url, expected, found) {
    super(`webfm: ${url} failed its integrity check: expected ${expected}, got ${found}`);
    this.name = "IntegrityError";
    this.url = url;
    this.expected = expected;
    this.found = found;
  }
}

const SRI = /^sha256-[A-Za-z0-9+/]{43}=$/;

/**
 * The expected digests of one load, by file name: those the options give
 * and those an index file brings. `want(url)` is a file's, matched by the
 * URL's end (`.../model.safetensors`) or the whole URL.
 */
export class Expected {
  #byName = new Map();
  /** The IntegrityErrors of this load so far. */
  failures = [];

  constructor(integrity) {
    if (integrity === undefined || integrity === null) return;
    if (typeof integrity !== "object" || Array.isArray(integrity)) throw new Error("webfm: load options: integrity must be an object of file name -> \"sha256-...\"");
    for (const [name, sri] of Object.entries(integrity)) this.add(name, sri);
  }

  add(name, sri) {
    if (typeof sri !== "string" || !SRI.test(sri)) {
      throw new Error(`webfm: integrity for ${name} must be "sha256-" and the base64 of 32 bytes (Subresource Integrity), got ${JSON.stringify(sri)}`);
    }
    this.#byName.set(name, sri);
  }

  want(url) {
    if (this.#byName.has(url)) return this.#byName.get(url);
    const path = url.split(/[?#]/)[0];
    for (const [name, sri] of this.#byName) if (path.endsWith(`/${name}`)) return sri;
    return undefined;
  }

  /**
   * `resp` hashed as it streams against `sri` (default: the digest this load
   * expects for `url`), a mismatch recorded in `failures`; see `hashed`.
   */
  check(resp, url, { sri = this.want(url), onDigest, onMismatch } = {}) {
    return hashed(resp, url, {
      expected: sri,
      onDigest,
      onMismatch: (e) => {
        this.failures.push(e);
        onMismatch?.(e);
      },
    });
  }

  /** Learns the shards' digests from an index file's `integrity` object (left as it is when absent or unreadable). */
  async learn(url, resp) {
    if (!url.split(/[?#]/)[0].endsWith(INDEX_FILE) || !resp.ok) return;
    let index;
    try {
      index = await resp.clone().json();
    } catch {
      return; // the wasm side reports a broken index, with its reasons
    }
    for (const [name, sri] of Object.entries(index?.integrity ?? {})) if (!this.#byName.has(name)) this.add(name, sri);
  }
}

/**
 * `resp` with its body hashed as it streams. At the end `onDigest(sri)` hears
 * the digest; when it differs from `expected`, the body errors with an
 * IntegrityError instead (after `onMismatch(error)`), so its reader fails.
 */
export function hashed(resp, url, { expected, onDigest, onMismatch } = {}) {
  if (!resp.body) return resp;
  const h = new Sha256();
  const body = resp.body.pipeThrough(
    new TransformStream({
      transform(chunk, c) {
        h.update(chunk);
        c.enqueue(chunk);
      },
      flush(c) {
        const found = h.finish();
        if (expected && found !== expected) {
          const e = new IntegrityError(url, expected, found);
          onMismatch?.(e);
          c.error(e);
          return;
        }
        onDigest?.(found);
      },
    }),
  );
  return new Response(body, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
}

/** `fetchFn` with each response checked against `expected` (no cache: nothing to evict). */
export function checkedFetch(fetchFn, expected) {
  return async (url) => {
    const resp = await fetchFn(url);
    await expected.learn(url, resp);
    return expected.want(url) && resp.ok ? expected.check(resp, url) : resp;
  };
}
