// webfm demo: a small app with one page per task (#search, #classify,
// #finetune, #chat, #kernels) and a header that picks the device for all of
// them.
//
// A page's model loads on the page's first visit, never before: a visitor who
// only chats never downloads MiniLM. Switching device reloads the models of
// the pages opened so far. Each page shows its own failures (status badge and
// error panel) and the others keep working; `#error` is for the app itself.

import { init } from "/pkg/index.js";
import { $, cardUi, message } from "./card.js";
import { chatPage } from "./chat.js";
import { classifyPage } from "./classify.js";
import { finetunePage } from "./finetune.js";
import { detectAdapter, deviceHeader } from "./header.js";
import { kernelsPage } from "./kernels.js";
import { startRouter } from "./router.js";
import { searchPage } from "./search.js";

function showAppError(e) {
  console.error(e);
  $("#error-text").textContent = message(e);
  $("#error").hidden = false;
}

// Anything a page did not catch is a bug; say so rather than fail silently.
window.addEventListener("error", (e) => showAppError(e.error ?? e.message));
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  showAppError(e.reason);
});

/** Downloads and compiles the .wasm (5 MB) with a progress bar in the header. */
async function loadWasm() {
  const ui = cardUi("app");
  $("#app-load").hidden = false;
  try {
    await init({ onProgress: ui.progress });
    $("#app-load").hidden = true;
  } catch (e) {
    $("#app-progress-label").textContent = "failed";
    throw new Error(`could not load webfm's WebAssembly module: ${message(e)}`);
  }
}

/** The adapter, once the module has loaded; never rejects (a failure is shown and means no adapter). */
async function findAdapter() {
  try {
    await loadWasm();
    return await detectAdapter();
  } catch (e) {
    showAppError(e); // each page's load tries the module again and shows its own error
    return { available: false, reason: message(e) };
  }
}

const adapter = findAdapter();
const pages = { search: searchPage(), classify: classifyPage(), finetune: finetunePage(), chat: chatPage(), kernels: kernelsPage(adapter) };
const opened = new Set();
let device = null;
const ready = adapter.then((a) => {
  device = deviceHeader(a, (d) => {
    device = d;
    for (const name of opened) pages[name].load(d);
  });
});

// Pages show at once; a page's model starts loading once the device is known.
startRouter(Object.keys(pages), async (name) => {
  await ready;
  if (opened.has(name)) return;
  opened.add(name);
  pages[name].load(device);
});
