// What bench/encoder/run.mjs and bench/decoder/run.mjs share: a served root
// of links to the repository with extra model folders, the machine's
// description for the results, and small formatting helpers.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumPath } from "../tests/browser/chromium.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** transformers.js -> transformersjs (for file names). */
export const slug = (name) => name.replace(/[^a-z0-9]/gi, "").toLowerCase();

/** A number for the tables: whole above 100, one decimal above 10, else two; "—" for none. */
export const fmt = (x) => (x == null ? "—" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/**
 * scripts/serve.mjs serves pkg/, bench/, tests/, www/ and /models/ (from
 * .cache/models) under a root: this makes a temporary root of links to the
 * repository whose .cache/models holds `models` ({name: folder}; absent
 * folders are left out).
 */
export function serveRoot(tag, models) {
  const dir = mkdtempSync(join(tmpdir(), `webfm-${tag}-root-`));
  for (const d of ["pkg", "bench", "tests", "www"]) if (existsSync(join(ROOT, d))) symlinkSync(join(ROOT, d), join(dir, d));
  mkdirSync(join(dir, ".cache/models"), { recursive: true });
  for (const [name, target] of Object.entries(models)) if (existsSync(target)) symlinkSync(target, join(dir, ".cache/models", name));
  return dir;
}

/** Cores, memory, Node, Chromium, load average and date, for a result file. */
export function machine() {
  let chromium = null;
  try {
    chromium = execFileSync(chromiumPath(), ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {}
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    mem_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    chromium,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

/**
 * Writes `result` to `file`, keeping the rows of the previous run that this
 * run did not redo (`--rows` with a subset), in the order of `allRows`
 * ("device:dtype" keys).
 */
export function writeRows(file, result, allRows) {
  mkdirSync(dirname(file), { recursive: true });
  if (existsSync(file)) {
    const done = new Set(result.rows.map((r) => `${r.device}:${r.dtype}`));
    const old = JSON.parse(readFileSync(file, "utf8")).rows.filter((r) => !done.has(`${r.device}:${r.dtype}`) && !r.error);
    result.rows = [...result.rows, ...old].sort((a, b) => allRows.indexOf(`${a.device}:${a.dtype}`) - allRows.indexOf(`${b.device}:${b.dtype}`));
  }
  writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
}
