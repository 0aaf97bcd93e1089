// What the demo's pages share: DOM helpers, and a card's status badge
// (`#<card>-status`, its state in `data-state`), progress bar (`#<card>-progress`,
// `#<card>-bar`, `#<card>-progress-label`), warning note (`#<card>-note`) and
// error panel (`#<card>-error`, `#<card>-error-title`, `#<card>-error-text`).

export const $ = (sel, root = document) => root.querySelector(sel);

export const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** Bytes as megabytes with one decimal. */
const mb = (bytes) => (bytes / 1e6).toFixed(1);

/** Bytes in binary units: "128 MiB", "4 GiB". */
export function binary(bytes) {
  if (typeof bytes !== "number") return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, x = bytes;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${Number.isInteger(x) ? x : x.toFixed(1)} ${units[i]}`;
}

/** Milliseconds, as seconds past ten of them. */
export const ms = (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

/** An error's message, for people: webfm's errors already name the file, tensor or shape. */
export const message = (e) => (e instanceof Error ? e.message || e.name : String(e));

/** How a model's `info().deviceKind` reads on the page. */
export const deviceName = (kind) => (kind === "webgpu" ? "WebGPU" : kind === "cpu" ? "CPU path (WebAssembly SIMD)" : String(kind));

/** A device choice in a sentence: "on WebGPU", "on the CPU path". */
export const onDevice = (device) => (device === "webgpu" ? "WebGPU" : "the CPU path");

/** A model's device description without the kind prefix ("webgpu: SwiftShader…" → "SwiftShader…"). */
export const deviceDetail = (info) => String(info.device).replace(/^(webgpu|cpu):\s*/i, "");

/** What loading took, from a model's `info()`: "90.9 MB of weights in 1.2 s (from this browser's cache)". */
export function loadFacts(info) {
  const cached = info.cache?.length > 0 && info.cache.every((c) => c.from === "cache");
  return `${mb(info.load.bytes)} MB of weights in ${ms(info.load.millis)}${cached ? " (from this browser's cache)" : ""}`;
}

/** Pieces of state with their DOM: the status badge, progress bar, note and error panel of `card`. */
export function cardUi(card) {
  const ui = {
    setStatus(state, text = state) {
      const s = $(`#${card}-status`);
      s.dataset.state = state;
      s.textContent = text;
      s.title = text;
    },
    setBar(fraction, label) {
      const f = Math.min(1, Math.max(0, fraction));
      $(`#${card}-bar`).style.width = `${(f * 100).toFixed(1)}%`;
      $(`#${card}-progress`).setAttribute("aria-valuenow", String(Math.round(f * 100)));
      $(`#${card}-progress-label`).textContent = label;
    },
    /**
     * An `onProgress` for the package's loaders: the bar shows the whole
     * model's fraction (`overall`) once the weights' size is known, the label
     * the file being read; the .wasm's own download has the bar to itself;
     * warnings go in the note.
     */
    progress({ status, file, loaded, total, overall, phase, warning }) {
      if (warning) {
        const note = $(`#${card}-note`);
        note.textContent = warning;
        note.hidden = false;
      } else if (phase === "compiled") {
        ui.setBar(1, `${file} compiled`);
      } else if (status === "ready") {
        ui.setBar(1, "model ready");
      } else if (file) {
        const whole = status && status !== "wasm" && overall > 0;
        const fraction = whole ? overall : total ? loaded / total : 0;
        ui.setBar(fraction, `${file}: ${mb(loaded ?? 0)}${total ? ` / ${mb(total)}` : ""} MB${whole ? ` · ${Math.round(overall * 100)}% of the model` : ""}`);
      }
    },
    /** Shows `e` in the card's error panel and badge; returns the message. */
    showError(e, title = "Error") {
      console.error(e); // the stack, for whoever opens the console
      const msg = message(e);
      $(`#${card}-error-title`).textContent = title;
      $(`#${card}-error-text`).textContent = msg;
      $(`#${card}-error`).hidden = false;
      ui.setStatus("error", `error: ${msg}`);
      return msg;
    },
    /** Hides the error panel and any warning from an earlier load. */
    clear() {
      $(`#${card}-error`).hidden = true;
      const note = $(`#${card}-note`);
      if (note) note.hidden = true;
    },
  };
  return ui;
}
