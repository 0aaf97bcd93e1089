// Model files in the Cache API, so a second load of the same URLs makes no
// network request. One cache ("webfm-models-v1"), one entry per URL; each
// entry keeps the response's ETag and Content-Length. The default mode serves
// a stored file without asking the server; "revalidate" first sends a HEAD and
// downloads again when the ETag or the size changed.
//
// Downloads stream through: the body is split (tee) between the loader and
// the cache, so nothing waits for the whole file. Entries written by a load
// that then fails are deleted again (a corrupt file is never served from the
// cache), and a full origin quota skips the cache with a warning that says how
// much space the file needed.
//
// Every stored file's SHA-256 is kept beside it (cache "webfm-digests-v1"),
// and a cached file is hashed again as it is read back (integrity.js): a file
// whose bytes changed on disk fails that check, is evicted, and the load
// fetches it again from the network.

import { checkedFetch, Expected } from "./integrity.js";

export const CACHE_NAME = "webfm-models-v1";
export const DIGESTS_NAME = "webfm-digests-v1";

const MB = 1024 * 1024;
const mb = (n) => (n < MB ? `${(n / 1024).toFixed(1)} KB` : `${(n / MB).toFixed(1)} MB`);

function cacheStorage() {
  try {
    return globalThis.caches ?? null; // absent outside secure contexts
  } catch {
    return null;
  }
}

/** Deletes every cached model file. Resolves to true when there was a cache to delete. */
export async function clearCache() {
  const cs = cacheStorage();
  if (!cs) return false;
  const [models] = await Promise.all([cs.delete(CACHE_NAME), cs.delete(DIGESTS_NAME)]);
  return models;
}

/** `{ files, bytes }` currently in the cache. */
export async function cacheUsage() {
  const cs = cacheStorage();
  if (!cs || !(await cs.has(CACHE_NAME))) return { files: 0, bytes: 0 };
  const cache = await cs.open(CACHE_NAME);
  let bytes = 0;
  const keys = await cache.keys();
  for (const req of keys) {
    const r = await cache.match(req);
    bytes += Number(r?.headers.get("content-length")) || 0;
  }
  return { files: keys.length, bytes };
}

function sameFile(stored, head) {
  const a = stored.headers.get("etag"), b = head.headers.get("etag");
  if (a && b) return a === b;
  const sa = stored.headers.get("content-length"), sb = head.headers.get("content-length");
  return sa !== null && sa === sb;
}

async function freeBytes() {
  try {
    const { usage = 0, quota = Infinity } = (await navigator.storage?.estimate?.()) ?? {};
    return { free: quota - usage, quota };
  } catch {
    return { free: Infinity, quota: Infinity };
  }
}

function quotaMessage(url, size, free, quota) {
  const name = url.split("/").pop();
  const need = size ? mb(size) : "an unknown size";
  // The estimate can disagree with the quota the browser enforces; only quote it when it explains the refusal.
  const have = Number.isFinite(free) && free < size ? `this site's storage has ${mb(Math.max(0, free))} free of ${mb(quota)}` : "the browser refused the write: its storage quota for this site is used up";
  return `webfm: not caching ${name} (needs ${need}; ${have}): it will download again next time. Free space with clearCache() or in the browser's site settings.`;
}

/**
 * A fetch for one model load: `fetch(url)` through the cache. Call
 * `finish(ok)` when the load has ended: it waits for every cache write and,
 * when the load failed, deletes what this load stored. `report` lists, per
 * URL, where it came from and whether it was stored.
 */
export function cachingFetch({ mode = "default", onWarning, signal, expected = new Expected() } = {}) {
  const cs = cacheStorage();
  const writes = [];
  const stored = [];
  const report = [];
  /** URLs served from the cache whose bytes failed their check (evicted). */
  const corrupt = [];
  /** Digests of what this load downloaded, written beside the files when the load succeeds. */
  const digests = new Map();
  const warn = (message) => {
    console.warn(message);
    onWarning?.(message);
  };
  let opened, openedDigests;
  const open = () => (opened ??= cs.open(CACHE_NAME));
  const openDigests = () => (openedDigests ??= cs.open(DIGESTS_NAME));
  const evict = (url) => writes.push(Promise.all([open().then((c) => c.delete(url)), openDigests().then((c) => c.delete(url))]).catch(() => {}));

  const uncached = checkedFetch((url) => fetch(url, { signal }), expected);

  async function fetchThrough(url) {
    if (!cs) return uncached(url);
    const resp = await lookup(url);
    await expected.learn(url, resp);
    return resp;
  }

  async function lookup(url) {
    const cache = await open();
    const hit = await cache.match(url);
    if (hit) {
      let fresh = mode !== "revalidate";
      if (!fresh) {
        const head = await fetch(url, { method: "HEAD", signal }).catch(() => null);
        fresh = !head || (head.ok && sameFile(hit, head)); // offline: keep what we have
      }
      if (fresh) {
        report.push({ url, from: "cache", bytes: Number(hit.headers.get("content-length")) || undefined });
        const known = await (await openDigests()).match(url).then((r) => r?.text());
        return expected.check(hit, url, {
          sri: expected.want(url) ?? known,
          // A stored file from before digests were kept gets one now.
          onDigest: (sri) => known || writes.push(openDigests().then((c) => c.put(url, new Response(sri))).catch(() => {})),
          onMismatch: () => {
            corrupt.push(url);
            evict(url);
          },
        });
      }
    }
    const fetched = await fetch(url, { signal });
    if (!fetched.ok || !fetched.body) return fetched;
    const resp = expected.check(fetched, url, { onDigest: (sri) => digests.set(url, sri) });
    const size = Number(resp.headers.get("content-length")) || 0;
    const entry = { url, from: "network", bytes: size || undefined, stored: false };
    report.push(entry);
    const { free, quota } = await freeBytes();
    if (size > free) {
      warn(quotaMessage(url, size, free, quota));
      return resp;
    }
    const [forLoader, forCache] = resp.body.tee();
    const init = { status: resp.status, statusText: resp.statusText, headers: resp.headers };
    writes.push(
      cache.put(url, new Response(forCache, init)).then(
        () => {
          entry.stored = true;
          stored.push(url);
        },
        async (e) => {
          if (signal?.aborted || expected.failures.length) return; // cancelled, or refused: the load says why
          if (e?.name === "QuotaExceededError") {
            const now = await freeBytes();
            warn(quotaMessage(url, size, now.free, now.quota));
          } else {
            warn(`webfm: could not cache ${url}: ${e?.message ?? e}`);
          }
        },
      ),
    );
    return new Response(forLoader, init);
  }

  async function finish(ok) {
    await Promise.all(writes);
    if (!cs || !stored.length) return;
    if (!ok) {
      const [cache, sums] = await Promise.all([open(), openDigests()]);
      await Promise.all(stored.flatMap((u) => [cache.delete(u), sums.delete(u)]));
      return;
    }
    const sums = await openDigests();
    await Promise.all(stored.filter((u) => digests.has(u)).map((u) => sums.put(u, new Response(digests.get(u))).catch(() => {})));
  }

  return { fetch: fetchThrough, finish, report, corrupt };
}
