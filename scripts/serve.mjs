#!/usr/bin/env node
// A tiny, dependency-free static server for the demo, the benchmarks and the
// browser tests. Same-origin only: the pages it serves never touch the network
// beyond it.
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--csp] [--header "Name: value"]...
//
//   /pkg/*            -> pkg/            (wasm-bindgen output + JS wrapper)
//   /bench/*          -> bench/
//   /tests/browser/*  -> tests/browser/
//   /tests/models/*   -> tests/models/   (tiny committed test models)
//   /models/*         -> .cache/models/  (the default models scripts/prepare-models.sh makes)
//   /hub/{id}/resolve/main/*  -> the same models laid out as a model hub (loading by id)
//   everything else   -> www/            (index.html for directories)
//
// `--csp` sends STRICT_CSP (below) as the Content-Security-Policy of every
// response, `--header` any other header (repeatable): to try a page as a
// site with a strict policy serves it.
//
// Also importable: `startServer({ port, host, headers })` (port 0 = random)
// resolves to `{ url, port, close() }`.

import { createServer } from "node:http";
import { stat, readFile } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The strictest policy the package and the demo work under: no eval, no
 * inline scripts or styles, scripts, Workers and fetches from this origin
 * only. 'wasm-unsafe-eval' lets a page compile WebAssembly (and nothing
 * else); `img-src data:` is the demo's empty favicon (`<link rel="icon"
 * href="data:,">`, which spares a request for /favicon.ico).
 */
export const STRICT_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
].join("; ");

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

// URL prefix -> folder under the repo root. First match wins; "/" is the fallback.
const MOUNTS = [
  ["/pkg/", "pkg"],
  ["/bench/", "bench"],
  ["/tests/browser/", join("tests", "browser")],
  ["/tests/models/", join("tests", "models")],
  ["/models/", join(".cache", "models")],
  ["/", "www"],
];

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
  ".gguf": "application/octet-stream",
  ".bin": "application/octet-stream",
};

// A model hub's layout, for loading models by id: /hub/{owner}/{name}/resolve/{revision}/{file}
// (webfm's `env.remoteHost = origin + "/hub/"`). Only revision "main" exists.
const HUB = {
  "webfm-test/tiny-qwen2": join("tests", "models", "tiny-qwen2"),
  "webfm-test/tiny-bert-cls": join("tests", "models", "tiny-bert-cls"),
  "HuggingFaceTB/SmolLM2-135M-Instruct": join(".cache", "models", "smollm2"),
  "sentence-transformers/all-MiniLM-L6-v2": join(".cache", "models", "minilm"),
};

/** Map a request path to a file path inside one of the mounted folders, or null. */
function resolvePath(root, urlPath, mounts = MOUNTS) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const hub = /^\/hub\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decoded);
  if (hub) {
    const [, id, revision] = hub;
    if (!HUB[id] || revision !== "main") return resolve(root, "tests", "models", "no-such-model", "missing");
    mounts = [[`/hub/${id}/resolve/main/`, HUB[id]]];
  }
  for (const [prefix, dir] of mounts) {
    if (!decoded.startsWith(prefix)) continue;
    const base = resolve(root, dir);
    const rest = decoded.slice(prefix.length);
    const file = resolve(base, "." + sep + rest);
    // No escaping the mounted folder (../, encoded %2e%2e, absolute paths).
    if (file !== base && !file.startsWith(base + sep)) return null;
    return file;
  }
  return null;
}

async function handle(root, mounts, headers, req, res) {
  const send = (code, body, type = "text/plain; charset=utf-8") => {
    res.writeHead(code, { ...headers, "Content-Type": type, "Cache-Control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");

  const { pathname } = new URL(req.url, "http://localhost");
  let file = resolvePath(root, pathname, mounts);
  if (!file) return send(403, "forbidden\n");

  try {
    let st = await stat(file);
    if (st.isDirectory()) {
      if (!pathname.endsWith("/")) {
        res.writeHead(301, { ...headers, Location: pathname + "/" });
        return res.end();
      }
      file = join(file, "index.html");
      st = await stat(file);
    }
    if (!st.isFile()) return send(404, "not found\n");
    const body = await readFile(file);
    res.writeHead(200, {
      ...headers,
      "Content-Type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": body.length,
      "Cache-Control": "no-store",
      // Size and modification time: what webfm's cache compares on "revalidate".
      ETag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      // Lets pages use SharedArrayBuffer / precise timers if they ever need them.
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch (e) {
    if (e.code === "ENOENT" || e.code === "ENOTDIR") return send(404, `not found: ${pathname}\n`);
    send(500, "internal error\n");
  }
}

/**
 * Start the server. Resolves to { url, port, close() } once it listens.
 * `root` is the folder holding pkg/, bench/, tests/browser/ and www/: $WEBFM_SERVE_ROOT if
 * set (e.g. to try the pages against another build), else this repository.
 * `mounts` replaces the URL prefix -> folder table (e.g. `[["/", "."]]` serves `root` as is).
 * `headers` are sent with every response, besides the server's own (e.g.
 * `{ "Content-Security-Policy": STRICT_CSP }`); the server's own win a clash.
 */
export function startServer({ port = 8080, host = "127.0.0.1", root = process.env.WEBFM_SERVE_ROOT || ROOT, mounts = MOUNTS, headers = {} } = {}) {
  const server = createServer((req, res) => {
    handle(root, mounts, headers, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      const actual = server.address().port;
      const shown = host.includes(":") ? `[${host}]` : host;
      ok({
        url: `http://${shown}:${actual}/`,
        port: actual,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

function parseArgs(argv) {
  const opts = { port: 8080, host: "127.0.0.1", headers: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? a.split(/=(.*)/s) : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === "--port" || flag === "-p") opts.port = Number(value());
    else if (flag === "--host") opts.host = value();
    else if (flag === "--csp" && inline === undefined) opts.headers["Content-Security-Policy"] = STRICT_CSP;
    else if (flag === "--header") {
      const h = value() ?? "";
      const colon = h.indexOf(":");
      if (colon < 1) {
        console.error(`serve.mjs: --header wants "Name: value", got ${JSON.stringify(h)}`);
        process.exit(2);
      }
      opts.headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    } else if (flag === "--help" || flag === "-h") {
      console.log('usage: node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--csp] [--header "Name: value"]...');
      process.exit(0);
    } else {
      console.error(`serve.mjs: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error(`serve.mjs: bad port ${opts.port}`);
    process.exit(2);
  }
  return opts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer(parseArgs(process.argv.slice(2)));
  console.log(`serving ${url}`);
}
