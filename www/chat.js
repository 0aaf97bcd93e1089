// "Chat" page: SmolLM2-135M-Instruct (the GGUF converted by the set-up,
// /models/smollm2/) streams its answer token by token through the chat
// template. It runs in a dedicated Worker (the package's WorkerTextModel), so
// the page's main thread only receives text and stays responsive.
//
// `#chat-status` reads "loading", "ready", "generating", "done", "stopped" or
// "error: ..."; each turn is a `.msg` in `#chat-log` (`.user`/`.assistant`),
// and `#chat-speed` shows the last answer's tokens, speed and finish reason
// (the browser tests read them).

import { WorkerTextModel } from "/pkg/worker.js";
import { $, cardUi, deviceDetail, deviceName, el, loadFacts, onDevice } from "./card.js";
import { deviceLost } from "./header.js";

const MODEL_URL = "/models/smollm2/";

const ui = cardUi("chat");

/** Sets up the page; `load(device)` (re)starts the model's Worker on `device`. Never throws. */
export function chatPage() {
  const input = $("#chat-input");
  const send = $("#chat-send");
  const stop = $("#chat-stop");
  const messages = []; // the conversation so far, as the chat template wants it
  let model = null, device = null;
  let loading = null; // AbortController of the load in flight
  let answering = null; // AbortController of the generation in flight
  let generation = 0; // bumped by each load: a stale load's results are dropped

  const ask = async () => {
    const text = input.value.trim();
    if (!model || answering || !text) return;
    const mine = generation;
    messages.push({ role: "user", content: text });
    const answer = el("div", { className: "msg assistant" });
    $("#chat-log").append(el("div", { className: "msg user" }, text), answer);
    input.value = "";
    const ctrl = (answering = new AbortController());
    send.disabled = true;
    stop.disabled = false;
    ui.clear();
    ui.setStatus("running", "generating");
    try {
      const stream = model.generate(messages, {
        maxNewTokens: Number($("#chat-max").value) || 128,
        temperature: Number($("#chat-temperature").value) || 0,
        topP: Number($("#chat-top-p").value) || 1,
        seed: Date.now() % 1_000_000,
        signal: ctrl.signal,
        // Constrained decoding: only tokens that keep the reply a JSON object.
        ...($("#chat-json").checked ? { jsonSchema: true } : {}),
      });
      for await (const piece of stream) answer.textContent += piece;
      if (mine !== generation) return;
      const s = stream.stats();
      messages.push({ role: "assistant", content: answer.textContent });
      $("#chat-speed").textContent = `${s.newTokens} tokens · first after ${Math.round(s.msFirstToken)} ms · ${s.tokensPerSecond.toFixed(1)} tokens/s · ${s.finish}`;
      ui.setStatus(s.finish === "cancelled" ? "stopped" : "done");
    } catch (e) {
      if (mine !== generation) return; // the model was replaced under it
      messages.pop();
      ui.showError(e, "Generation failed");
    } finally {
      if (answering === ctrl) answering = null;
      send.disabled = !model;
      stop.disabled = true;
    }
  };

  const load = async (d) => {
    device = d;
    const mine = ++generation;
    loading?.abort();
    answering?.abort();
    model?.dispose(); // ends its Worker, and with it the model's memory
    model = null;
    // A new model starts a new conversation.
    messages.length = 0;
    $("#chat-log").replaceChildren();
    $("#chat-model").textContent = "";
    $("#chat-speed").textContent = "—";
    send.disabled = stop.disabled = true;
    ui.clear();
    ui.setStatus("loading");
    ui.setBar(0, "starting the Worker…");
    const ctrl = (loading = new AbortController());
    try {
      const m = await WorkerTextModel.load(MODEL_URL, {
        device,
        signal: ctrl.signal,
        onProgress: (p) => mine === generation && ui.progress(p),
        onDeviceLost: (e) => deviceLost("chat", e),
      });
      if (mine !== generation) return m.dispose();
      const info = m.info();
      $("#chat-model").textContent = `SmolLM2-135M-Instruct · ${loadFacts(info)} · ${deviceName(info.deviceKind)} · ${deviceDetail(info)}`;
      ui.setBar(1, `ready · ${deviceName(info.deviceKind)}`);
      model = m;
      ui.setStatus("ready");
      send.disabled = false;
    } catch (e) {
      if (mine !== generation) return; // cancelled by a newer load
      $("#chat-progress-label").textContent = "failed";
      ui.showError(e, `Could not load SmolLM2-135M-Instruct on ${onDevice(device)}`);
    } finally {
      if (loading === ctrl) loading = null;
    }
  };

  $("#chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    ask();
  });
  stop.addEventListener("click", () => answering?.abort());
  $("#chat-retry").addEventListener("click", () => load(device));
  return { load };
}
