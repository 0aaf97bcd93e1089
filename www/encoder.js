// The one all-MiniLM-L6-v2 the search, classify and fine-tune pages share,
// loaded once per device on the main thread (its calls are short, and
// training yields between steps; the chat's long generations are what needs a
// Worker). Switching device disposes the old one.
//
// A fine-tuned adapter is kept here as its safetensors bytes, so the model on
// the next device gets it too. An adapter changes only `classify`; `embed`
// and `zeroShot` (search, zero-shot labels) stay the base model's.

import { Model } from "/pkg/index.js";
import { deviceLost } from "./header.js";

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
let adapter = null; // the kept adapter's `toSafetensors()` bytes
const adapterListeners = new Set();

/**
 * Keeps `bytes` (an adapter's `toSafetensors()`, already loaded into the
 * current model by its `finetune`) for the models of later devices, and tells
 * the `onAdapterChange` listeners.
 */
export function keepAdapter(bytes) {
  adapter = bytes;
  adapterListeners.forEach((f) => f());
}

/** `f()` runs whenever the kept adapter changes (the pages then read `model.info().adapter`). */
export function onAdapterChange(f) {
  adapterListeners.add(f);
}

/** Loads the kept adapter into a freshly loaded model; a failure is logged and leaves the base model. */
async function withAdapter(model) {
  if (!adapter) return model;
  try {
    await model.loadAdapter(adapter);
  } catch (e) {
    console.error("webfm demo: the fine-tuned adapter did not load on the new device", e);
  }
  return model;
}

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
      onDeviceLost: (e) => deviceLost("MiniLM", e),
    }).then(withAdapter);
    entry.ready.catch(() => {
      if (current === entry) current = null;
    });
    current = entry;
  }
  current.listeners.add(onProgress);
  return current.ready;
}
