// The one all-MiniLM-L6-v2 the search and classify pages share, loaded once
// per device on the main thread (its calls are short; the chat's long
// generations are what needs a Worker). Switching device disposes the old one.

import { Model } from "/pkg/index.js";

export const ENCODER_URL = "/models/minilm/";

/**
 * Frees an old model's memory now. A page may still be embedding with it (its
 * results are ignored by then); the wasm object is busy and refuses, and the
 * garbage collector frees it once that call ends.
 */
function release(model) {
  try {
    model.dispose();
  } catch (e) {
    console.info("webfm demo: the old model is still busy; the garbage collector will free it", e);
  }
}

let current = null; // { device, ready: Promise<Model>, listeners: Set<onProgress> }

/**
 * The shared model on `device`, loading it when it is not there yet;
 * `onProgress` hears this load's progress. A failed load is forgotten, so the
 * next call tries again.
 */
export function encoder(device, onProgress) {
  if (current?.device !== device) {
    current?.ready.then(release, () => {});
    const entry = { device, listeners: new Set() };
    entry.ready = Model.load(ENCODER_URL, {
      device,
      onProgress: (p) => entry.listeners.forEach((f) => f(p)),
    });
    entry.ready.catch(() => {
      if (current === entry) current = null;
    });
    current = entry;
  }
  current.listeners.add(onProgress);
  return current.ready;
}
