// "Classify" page: zero-shot classification with the all-MiniLM-L6-v2 the
// search page uses (one load per device for both): the text and each label,
// put into the hypothesis template, are embedded and the labels ranked by
// cosine similarity (`Model.zeroShot`). Once the Fine-tune page has trained
// an adapter (`model.info().adapter`), a switch offers the tuned classifier
// instead (`Model.classify`, its labels); zero-shot stays the default.
//
// `#classify-status` reads "loading", "classifying", "ready" or "error: ...";
// `#classify-results` holds one `.label-row` per label (`.label`, `.score`),
// best first; `#classify-mode-tuned` picks the tuned classifier (the browser
// tests read and click them).

import { $, cardUi, deviceDetail, deviceName, el, loadFacts, onDevice } from "./card.js";
import { encoder, onAdapterChange } from "./encoder.js";

const DEFAULT_TEMPLATE = "This text is about {}.";

const ui = cardUi("classify");

function renderScores(scores) {
  $("#classify-results").replaceChildren(...scores.map(({ label, score }) => {
    const bar = el("span", { className: "label-bar" }, el("span", {}));
    bar.firstChild.style.width = `${(score * 100).toFixed(1)}%`;
    return el("li", { className: "label-row" },
      el("span", { className: "label" }, label),
      bar,
      el("span", { className: "score" }, `${(score * 100).toFixed(1)}%`));
  }));
}

/** Sets up the page; `load(device)` gets the shared model, then classifies the text shown. Never throws. */
export function classifyPage() {
  const text = $("#classify-text");
  const labels = $("#classify-labels");
  const template = $("#classify-template");
  const button = $("#classify-run");
  const tuned = $("#classify-mode-tuned");
  let model = null, busy = false, device = null;
  let again = false; // the mode changed during a classification: classify once more after it
  let generation = 0; // bumped by each load: a stale load's results are dropped

  /** The loaded adapter's labels, or null: the tuned mode exists only with one. */
  const adapterLabels = () => model?.info().adapter?.labels ?? null;
  const tunedMode = () => tuned.checked && adapterLabels() !== null;

  /** Shows the mode switch when there is an adapter, and the fields and words of the mode in use. */
  const showMode = () => {
    const ls = adapterLabels();
    $("#classify-mode").hidden = ls === null;
    if (ls) $("#classify-mode-tuned-text").textContent = `tuned classifier (labels: ${ls.join(", ")})`;
    const on = tunedMode();
    $("#classify-title").textContent = on ? "Fine-tuned classification" : "Zero-shot classification";
    $("#classify-about").hidden = on;
    $("#classify-about-tuned").hidden = !on;
    for (const f of document.querySelectorAll("#classify-form .zeroshot-only")) f.hidden = on;
    labels.required = !on; // a hidden required field would block the form
  };

  const classify = async () => {
    if (!model || busy) return;
    const t = text.value.trim();
    const ls = labels.value.split(",").map((l) => l.trim()).filter(Boolean);
    const useAdapter = tunedMode();
    if (!t) return text.focus();
    if (!ls.length && !useAdapter) return labels.focus();
    const mine = generation;
    busy = true;
    button.disabled = true;
    ui.clear();
    ui.setStatus("running", "classifying");
    try {
      const t0 = performance.now();
      const scores = useAdapter
        ? await model.classify(t)
        : await model.zeroShot(t, ls, { template: template.value.trim() || DEFAULT_TEMPLATE });
      if (mine !== generation) return;
      renderScores(scores);
      const ms = (performance.now() - t0).toFixed(1);
      $("#classify-time").textContent = useAdapter ? `${ms} ms for 1 embedding and the tuned head` : `${ms} ms for ${ls.length + 1} embeddings`;
      ui.setStatus("ready");
    } catch (e) {
      // A bad template (no "{}") lands here too; the model stays usable.
      if (mine === generation) ui.showError(e, "Classification failed");
    } finally {
      if (mine === generation) {
        busy = false;
        button.disabled = !model;
        if (again) {
          again = false;
          classify();
        }
      }
    }
  };

  const load = async (d) => {
    device = d;
    const mine = ++generation;
    model = null;
    busy = again = false; // a classification on the old model is dropped
    button.disabled = true;
    showMode();
    ui.clear();
    $("#classify-results").replaceChildren();
    $("#classify-device").textContent = $("#classify-time").textContent = "—";
    ui.setStatus("running", "loading");
    ui.setBar(0, "fetching config and tokenizer…");
    try {
      const m = await encoder(device, (p) => mine === generation && ui.progress(p));
      if (mine !== generation) return;
      const info = m.info();
      $("#classify-device").textContent = `${deviceName(info.deviceKind)} · ${deviceDetail(info)} · ${loadFacts(info)}`;
      ui.setBar(1, `ready · ${deviceName(info.deviceKind)}`);
      model = m;
      showMode(); // the model on a new device has the adapter too (encoder.js keeps it)
      button.disabled = false;
      ui.setStatus("ready"); // what stays when the text or the labels are empty
      await classify();
    } catch (e) {
      if (mine !== generation) return;
      $("#classify-progress-label").textContent = "failed";
      ui.showError(e, `Could not load all-MiniLM-L6-v2 on ${onDevice(device)}`);
    }
  };

  $("#classify-form").addEventListener("submit", (e) => {
    e.preventDefault();
    classify();
  });
  // Ctrl/Cmd+Enter in the textarea classifies, as a form's Enter would.
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      classify();
    }
  });
  $("#classify-retry").addEventListener("click", () => load(device));
  // The mode switched, or a new adapter under the tuned mode: show it and classify the text again.
  const reclassify = () => {
    showMode();
    if (!model) return;
    if (busy) again = true;
    else classify();
  };
  onAdapterChange(() => (tunedMode() ? reclassify() : showMode()));
  for (const r of document.querySelectorAll('#classify-mode input[name="mode"]')) r.addEventListener("change", reclassify);
  return { load };
}
