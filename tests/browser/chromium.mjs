// Launch Debian's headless Chromium through playwright-core (never a browser
// download of Playwright's own). WebGPU comes from SwiftShader, which ships in
// chromium-common; see /work/shared/TOOLCHAIN.md for the flags.
//
//   const browser = await launch({ webgpu: true });
//   const page = await browser.newPage();          // console errors go to stderr
//   ...
//   await browser.close();                         // also removes the profile dir

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** Path of the system Chromium: $CHROMIUM, `command -v chromium`, or /usr/bin/chromium. */
export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const p = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (p) return p;
    } catch {}
  }
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  throw new Error("no Chromium found: run scripts/setup.sh (apt-get install chromium) or set CHROMIUM");
}

const BASE_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--no-first-run",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/**
 * Launch Chromium with a fresh profile. `webgpu: false` leaves out
 * `--enable-unsafe-webgpu`, so `navigator.gpu.requestAdapter()` resolves to null
 * (the "no WebGPU" case). Returns a BrowserContext-like object with `newPage()`
 * and `close()`.
 */
export async function launch({ webgpu = true, quiet = false, viewport = { width: 1100, height: 900 } } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), "webfm-chromium-"));
  const args = [...BASE_FLAGS];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  let context;
  try {
    // Playwright passes --user-data-dir itself for a persistent context.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath(),
      headless: true,
      args,
      // Playwright's own defaults include flags we do not want to second-guess;
      // the ones above are what TOOLCHAIN.md checked.
      viewport,
      timeout: 60_000,
    });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const tag = webgpu ? "chromium/webgpu" : "chromium/no-webgpu";
  // Errors and warnings go to stderr (all messages with WEBFM_BROWSER_LOG=1).
  // WebGPU repeats one validation error per use of an invalid object, so each
  // distinct message is printed once, then only counted.
  const seen = new Map();
  const hook = (page) => {
    page.on("console", (msg) => {
      const t = msg.type();
      if (!(t === "error" || t === "warning" || (!quiet && process.env.WEBFM_BROWSER_LOG))) return;
      const text = msg.text();
      const n = (seen.get(text) ?? 0) + 1;
      seen.set(text, n);
      if (n === 1) process.stderr.write(`[${tag} console.${t}] ${text}\n`);
      else if (n === 2) {
        const head = text.split("\n")[0];
        process.stderr.write(`[${tag} console.${t}] (repeats, further copies hidden: ${head.length > 80 ? head.slice(0, 77) + "..." : head})\n`);
      }
    });
    page.on("pageerror", (err) => process.stderr.write(`[${tag} pageerror] ${err.stack || err}\n`));
    page.on("crash", () => process.stderr.write(`[${tag}] page crashed\n`));
  };
  context.pages().forEach(hook);
  context.on("page", hook);

  const close = context.close.bind(context);
  context.close = async () => {
    try {
      await close();
    } finally {
      await rm(userDataDir, { recursive: true, force: true });
    }
  };
  /** Reuse the blank tab the persistent context opens with. */
  context.firstPage = async () => context.pages()[0] ?? (await context.newPage());
  return context;
}

/**
 * Open tests/browser/ops.html (it loads the built package as `window.webfm`)
 * in `page` (default: the context's first tab) and wait until the wasm has
 * loaded; a missing or broken pkg/ fails with a readable reason.
 */
export async function openTestPage(browser, server, { page = null, timeout = 10 * 60_000 } = {}) {
  page = page ?? (await browser.firstPage());
  page.setDefaultTimeout(timeout);
  await page.goto(new URL("tests/browser/ops.html", server.url).href);
  await page.evaluate(async () => {
    try {
      await window.webfmReady;
    } catch (e) {
      throw new Error(`loading /pkg/webfm.js failed (run scripts/build.sh): ${e?.message ?? e}`);
    }
  });
  return page;
}
