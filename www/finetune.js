// "Fine-tune" page: trains a classifier on labelled lines with the
// all-MiniLM-L6-v2 the search and classify pages share (`Model.finetune`,
// method "head" or "head+lora"), with a live loss chart, then measures it on
// held-out reviews against zero-shot classification by the same frozen model,
// lets a visitor try it and download the adapter (PEFT's two files). The
// adapter stays loaded in the shared model (the Classify page offers it), and
// encoder.js keeps its bytes for the model of another device.
//
// `#finetune-status` reads "loading", "zero-shot i/n", "ready", "training
// i/n", "evaluating", "stopping", "done", "stopped", "classifying" or
// "error: ..."; `#finetune-accuracy` and `#finetune-zeroshot` show the
// held-out accuracies ("87.5%"), `#finetune-chart polyline.loss` has one point
// per step, `#finetune-download` is the adapter file (the browser tests read
// them).

import { $, cardUi, deviceDetail, deviceName, el, loadFacts, ms, onDevice } from "./card.js";
import { encoder, keepAdapter } from "./encoder.js";
import { drawLossChart } from "./loss-chart.js";
import { HELD_OUT_REVIEWS, TRAIN_REVIEWS } from "./sample-reviews.js";

const BATCH = 8;
const SEED = 0; // the same examples and settings train the same adapter (on the same device path)
const MAX_EPOCHS = 100;
/** The package's defaults (docs/API.md, the same in the CLI): a learning rate per method... */
const LR = { head: 0.01, "head+lora": 0.003 };
/** ...and enough epochs for 64 steps (3 to 100). Choosing a method or editing the examples sets them, until the visitor types their own. */
const defaultEpochs = (n) => Math.min(MAX_EPOCHS, Math.max(3, Math.ceil(64 / Math.max(1, Math.ceil(n / BATCH)))));
/** The zero-shot baseline: the same frozen model, no training. */
const ZERO_SHOT = { labels: ["positive", "negative"], template: "This review is {}." };
const HELD_OUT = HELD_OUT_REVIEWS.map(([label, text]) => ({ text, label }));

const ui = cardUi("finetune");

const percent = (x) => `${(x * 100).toFixed(1)}%`;
const quote = (s) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}…` : s);

/** Examples per label, in order of first appearance. */
function labelCounts(examples) {
  const counts = new Map();
  for (const { label } of examples) counts.set(label, (counts.get(label) ?? 0) + 1);
  return counts;
}

/** `label: text` lines (blank ones skipped) as `[{text, label}]`; throws naming the first bad line. */
export function parseExamples(source) {
  const examples = [];
  source.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const colon = line.indexOf(":");
    if (colon < 0) throw new Error(`line ${i + 1}: expected "label: text", found ${quote(line.trim())} (no colon)`);
    const label = line.slice(0, colon).trim();
    const text = line.slice(colon + 1).trim();
    if (!label) throw new Error(`line ${i + 1}: the label before the colon is empty`);
    if (!text) throw new Error(`line ${i + 1}: there is no text after "${label}:"`);
    examples.push({ text, label });
  });
  if (!examples.length) throw new Error('no examples: write one per line as "label: text"');
  const counts = labelCounts(examples);
  if (counts.size < 2) {
    throw new Error(`all ${examples.length} examples are labelled "${examples[0].label}": a classifier needs at least two labels`);
  }
  return examples;
}

/** The form's epochs and learning rate, checked. */
function trainingOptions() {
  const epochs = Number($("#finetune-epochs").value);
  const lr = Number($("#finetune-lr").value);
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > MAX_EPOCHS) {
    throw new Error(`epochs: a whole number from 1 to ${MAX_EPOCHS}, not "${$("#finetune-epochs").value}"`);
  }
  if (!(lr > 0 && lr <= 1)) throw new Error(`learning rate: a number above 0 and at most 1, not "${$("#finetune-lr").value}"`);
  return { method: $("#finetune-method").value, epochs, lr };
}

function renderScores(list, scores) {
  list.replaceChildren(...scores.map(({ label, score }) => {
    const bar = el("span", { className: "label-bar" }, el("span", {}));
    bar.firstChild.style.width = percent(score);
    return el("li", { className: "label-row" }, el("span", { className: "label" }, label), bar, el("span", { className: "score" }, percent(score)));
  }));
}

/** One accuracy row: `#finetune-<id>` and its bar. */
function showAccuracy(id, accuracy) {
  $(`#finetune-${id}`).textContent = accuracy === null ? "—" : percent(accuracy);
  $(`#finetune-${id}-bar`).style.width = accuracy === null ? "0" : percent(accuracy);
}

/** The held-out reviews as table rows; `zeroShot` and `tuned` are their predicted labels (or null). */
function renderHeldOut(zeroShot, tuned) {
  const cell = (guess, label) => guess
    ? el("td", { className: guess === label ? "right" : "wrong", title: guess === label ? "right" : "wrong" }, guess)
    : el("td", { className: "muted" }, "—");
  $("#finetune-heldout tbody").replaceChildren(...HELD_OUT.map(({ text, label }, i) =>
    el("tr", {}, el("td", {}, text), el("td", {}, label), cell(zeroShot?.[i], label), cell(tuned?.[i], label))));
}

const right = (guesses) => guesses.filter((g, i) => g === HELD_OUT[i].label).length;

/** Sets up the page; `load(device)` gets the shared model and measures the zero-shot baseline. Never throws. */
export function finetunePage() {
  const area = $("#finetune-examples");
  const method = $("#finetune-method");
  const epochs = $("#finetune-epochs");
  const lr = $("#finetune-lr");
  const trainButton = $("#finetune-train");
  const stopButton = $("#finetune-stop");
  const tryButton = $("#finetune-try-run");
  const chart = $("#finetune-chart");
  let model = null, device = null;
  let generation = 0; // bumped by each load: a stale load's or run's results are dropped
  let training = null; // AbortController of the run in flight
  let trying = false;
  let zeroShot = null; // the zero-shot label of each held-out review, on this model
  let result = null; // the last finished run: {report, tuned, settings, downloads}; it outlives a device switch with its adapter
  let resting = "ready"; // the status between actions: "ready", "done" or "stopped"
  let urls = []; // the download links' object URLs

  const setButtons = () => {
    trainButton.disabled = !model || !!training;
    stopButton.disabled = !training;
    tryButton.disabled = !model || !!training || !result || trying;
    area.readOnly = !!training;
    method.disabled = epochs.disabled = lr.disabled = !!training;
  };

  /** The line under the textarea: what Train would get, or what is wrong with it. */
  const summarize = () => {
    const out = $("#finetune-summary");
    try {
      const examples = parseExamples(area.value);
      const counts = [...labelCounts(examples)].map(([l, c]) => `${l} ${c}`).join(", ");
      out.textContent = `${examples.length} examples · ${labelCounts(examples).size} labels: ${counts} · ${Math.ceil(examples.length / BATCH)} steps of ${BATCH} per epoch (seed ${SEED})`;
      if (!epochsTyped) epochs.value = String(defaultEpochs(examples.length));
      out.classList.remove("warn");
    } catch (e) {
      out.textContent = e.message;
      out.classList.add("warn");
    }
  };

  /** The chart and step readouts of the last finished run, or empty ones. */
  const showLastRun = () => {
    const r = result?.report;
    drawLossChart(chart, r
      ? { losses: r.trainLoss, steps: r.steps, epochSteps: result.settings.epochSteps, chance: Math.log(r.labels.length) }
      : { placeholder: "the loss of each training step appears here" });
    for (const id of ["step", "epoch", "loss", "lr-now", "speed"]) $(`#finetune-${id}`).textContent = "—";
    $("#finetune-elapsed").textContent = "";
    $("#finetune-steps-bar").style.width = r ? "100%" : "0";
    $("#finetune-steps-label").textContent = r ? `the kept adapter: ${r.steps} steps` : "not trained yet";
  };

  const showZeroShot = () => {
    showAccuracy("zeroshot", zeroShot ? right(zeroShot) / HELD_OUT.length : null);
    renderHeldOut(zeroShot, result?.tuned);
    showDetail();
  };

  /** The sentence under the accuracies. */
  const showDetail = () => {
    const out = $("#finetune-eval-detail");
    const zs = zeroShot ? `zero-shot ${right(zeroShot)} of ${HELD_OUT.length}` : "zero-shot: measuring…";
    if (!result) {
      out.textContent = `${HELD_OUT.length} held-out reviews · ${zs} · train to compare`;
    } else if (!result.tuned) {
      out.textContent = `No held-out accuracy: the held-out reviews are labelled positive or negative, and this run's labels (${result.report.labels.join(", ")}) do not include both. ${zs}.`;
    } else {
      const s = result.settings;
      out.textContent = `${HELD_OUT.length} held-out reviews · fine-tuned ${right(result.tuned)} of ${HELD_OUT.length} (${s.method}, ${s.epochs} epochs, lr ${s.lr}, ${s.examples} examples${result.report.stopped ? ", stopped early" : ""}) · ${zs}`;
    }
  };

  const showResult = () => {
    const { report, settings } = result;
    showAccuracy("accuracy", report.evalAccuracy);
    $("#finetune-accuracy-label").textContent = `fine-tuned (${settings.method})`;
    renderHeldOut(zeroShot, result.tuned);
    showDetail();
    // The two PEFT files, as object URLs (nothing is sent anywhere).
    urls.forEach((u) => URL.revokeObjectURL(u));
    const { safetensors, config } = result.downloads;
    urls = [
      URL.createObjectURL(new Blob([safetensors], { type: "application/octet-stream" })),
      URL.createObjectURL(new Blob([config], { type: "application/json" })),
    ];
    $("#finetune-download").href = urls[0];
    $("#finetune-download-config").href = urls[1];
    $("#finetune-download-size").textContent = `adapter_model.safetensors, ${(safetensors.length / 1024).toFixed(1)} KiB`;
    $("#finetune-downloads").hidden = false;
  };

  /** Classifies the "try it" text with the tuned classifier: "ok", "failed" or "skipped" (nothing to do yet). */
  const tryIt = async () => {
    const text = $("#finetune-try-text").value.trim();
    if (!model || !result || training || trying) return "skipped";
    if (!text) {
      $("#finetune-try-text").focus();
      return "skipped";
    }
    const mine = generation;
    trying = true;
    setButtons();
    ui.clear();
    ui.setStatus("running", "classifying");
    try {
      const scores = await model.classify(text);
      if (mine !== generation) return "skipped";
      renderScores($("#finetune-try-results"), scores);
      ui.setStatus(resting);
      return "ok";
    } catch (e) {
      if (mine === generation) ui.showError(e, "Classification failed");
      return "failed";
    } finally {
      if (mine === generation) {
        trying = false;
        setButtons();
      }
    }
  };

  const train = async () => {
    if (!model || training) return;
    let examples, settings;
    try {
      examples = parseExamples(area.value);
      settings = trainingOptions();
    } catch (e) {
      $("#finetune-retry").hidden = true;
      ui.showError(e, "Cannot train on these examples");
      return;
    }
    const mine = generation;
    const m = model;
    const ctrl = (training = new AbortController());
    const labels = new Set(examples.map((e) => e.label));
    const evaluate = HELD_OUT.every((e) => labels.has(e.label));
    const epochSteps = Math.ceil(examples.length / BATCH);
    const losses = [];
    let steps = epochSteps * settings.epochs;
    const chance = Math.log(labels.size);
    ui.clear();
    setButtons();
    ui.setStatus("running", `training 0/${steps}`);
    drawLossChart(chart, { losses, steps, epochSteps, chance });
    for (const id of ["step", "epoch", "loss", "lr-now", "speed"]) $(`#finetune-${id}`).textContent = "—";
    $("#finetune-steps-bar").style.width = "0";
    $("#finetune-steps-label").textContent = "starting…";
    const t0 = performance.now();
    const onStep = (s) => {
      if (mine !== generation) return;
      steps = s.steps;
      losses.push(s.loss);
      drawLossChart(chart, { losses, steps, epochSteps, chance });
      $("#finetune-step").textContent = `${s.step} / ${s.steps}`;
      $("#finetune-epoch").textContent = `${s.epoch} / ${settings.epochs}`;
      $("#finetune-loss").textContent = s.loss.toFixed(4);
      $("#finetune-lr-now").textContent = s.lr.toPrecision(2);
      $("#finetune-speed").textContent = `${s.examplesPerSecond.toFixed(1)} examples/s`;
      $("#finetune-elapsed").textContent = ms(performance.now() - t0);
      $("#finetune-steps-bar").style.width = percent(s.step / s.steps);
      $("#finetune-steps").setAttribute("aria-valuenow", String(Math.round((100 * s.step) / s.steps)));
      $("#finetune-steps-label").textContent = `step ${s.step} of ${s.steps}`;
      if (ctrl.signal.aborted) return; // "stopping" stays
      const last = s.step === s.steps;
      ui.setStatus("running", last ? (evaluate ? "evaluating" : "finishing") : `training ${s.step}/${s.steps}`);
    };
    try {
      const adapter = await m.finetune(examples, {
        ...settings, batchSize: BATCH, seed: SEED, evalExamples: evaluate ? HELD_OUT : undefined, onStep, signal: ctrl.signal,
      });
      if (mine !== generation) return;
      const report = adapter.report;
      const took = performance.now() - t0;
      const downloads = { safetensors: adapter.toSafetensors(), config: adapter.configJson() };
      // One prediction per held-out review for the table (report.evalAccuracy is the headline).
      const tuned = evaluate ? (await m.classify(HELD_OUT.map((e) => e.text))).map((r) => r[0].label) : null;
      if (mine !== generation) return;
      result = { report, tuned, settings: { ...settings, examples: examples.length, epochSteps }, downloads };
      keepAdapter(downloads.safetensors); // the model has it already; the next device's model gets it too
      $("#finetune-elapsed").textContent = ms(took);
      $("#finetune-steps-label").textContent = report.stopped
        ? `stopped after ${report.steps} of ${steps} steps (${ms(took)})`
        : `${report.steps} steps in ${ms(took)} · ${report.examplesPerSecond.toFixed(1)} examples/s`;
      showResult();
      resting = report.stopped ? "stopped" : "done";
      training = null;
      setButtons();
      // The "try it" text, with the new classifier; the status settles after it.
      if ((await tryIt()) === "skipped" && mine === generation) ui.setStatus(resting);
    } catch (e) {
      if (mine === generation) ui.showError(e, "Training failed");
    } finally {
      if (training === ctrl) training = null;
      if (mine === generation) setButtons();
    }
  };

  const load = async (d) => {
    device = d;
    const mine = ++generation;
    if (training) {
      training.abort(); // a run on the old model is dropped; the last finished run's adapter is kept
      training = null;
      showLastRun();
    }
    model = zeroShot = null;
    trying = false;
    resting = "ready";
    setButtons();
    ui.clear();
    $("#finetune-retry").hidden = true;
    $("#finetune-device").textContent = "—";
    showZeroShot();
    ui.setStatus("running", "loading");
    ui.setBar(0, "fetching config and tokenizer…");
    let step = "load";
    try {
      const m = await encoder(device, (p) => mine === generation && ui.progress(p));
      if (mine !== generation) return;
      const info = m.info();
      $("#finetune-device").textContent = `${deviceName(info.deviceKind)} · ${deviceDetail(info)} · ${loadFacts(info)}`;
      // The baseline to beat: zero-shot labels on the held-out reviews, once per model.
      step = "zero-shot";
      const guesses = [];
      for (const { text } of HELD_OUT) {
        ui.setStatus("running", `zero-shot ${guesses.length}/${HELD_OUT.length}`);
        ui.setBar(guesses.length / HELD_OUT.length, `zero-shot baseline: ${guesses.length}/${HELD_OUT.length} held-out reviews`);
        const scores = await m.zeroShot(text, ZERO_SHOT.labels, { template: ZERO_SHOT.template });
        if (mine !== generation) return;
        guesses.push(scores[0].label);
      }
      zeroShot = guesses;
      showZeroShot();
      ui.setBar(1, `ready · ${deviceName(info.deviceKind)}`);
      model = m;
      setButtons();
      ui.setStatus("ready");
    } catch (e) {
      if (mine !== generation) return;
      $("#finetune-progress-label").textContent = "failed";
      $("#finetune-retry").hidden = false;
      ui.showError(e, step === "load" ? `Could not load all-MiniLM-L6-v2 on ${onDevice(device)}` : "The zero-shot baseline failed");
    }
  };

  let epochsTyped = false;
  epochs.addEventListener("input", () => (epochsTyped = true));
  area.value = TRAIN_REVIEWS.map(([label, text]) => `${label}: ${text}`).join("\n");
  area.addEventListener("input", summarize);
  lr.value = String(LR[method.value]);
  summarize();
  method.addEventListener("change", () => {
    lr.value = String(LR[method.value]);
    epochsTyped = false;
    summarize();
  });
  showLastRun();
  showZeroShot();
  $("#finetune-heldout-summary").textContent = `the ${HELD_OUT.length} held-out reviews`;

  $("#finetune-form").addEventListener("submit", (e) => {
    e.preventDefault();
    train();
  });
  stopButton.addEventListener("click", () => {
    if (!training) return;
    training.abort(); // stops after the step in flight; the adapter keeps what was trained
    stopButton.disabled = true;
    ui.setStatus("running", "stopping");
  });
  $("#finetune-try-form").addEventListener("submit", (e) => {
    e.preventDefault();
    tryIt();
  });
  $("#finetune-retry").addEventListener("click", () => load(device));
  return { load };
}
