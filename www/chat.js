// "Chat" card: SmolLM2-135M-Instruct (the GGUF converted by the set-up,
// /models/smollm2/) streams its answer token by token through the chat
// template. The device is WebGPU on a real GPU adapter and the CPU path
// otherwise (a software adapter such as SwiftShader decodes ~0.3 tokens/s
// there, the wasm CPU path ~20); the user can switch.
//
// `#chat-status` reads "loading", "ready", "generating", "done",
// "stopped" or "error: ..."; each turn is a `.msg` in `#chat-log`
// (`.user`/`.assistant`), and `#chat-speed` shows the last answer's speed
// (the browser tests read them).

import { $, cardUi, el, mb } from "./card.js";

const MODEL_URL = "/models/smollm2/";

const { setStatus, setBar } = cardUi("chat");

/** Runs the card. Never throws; failures go to `showError` and `#chat-status`. */
export async function startChat(webfm, { showError, adapter }) {
  const fail = (e) => setStatus("error", `error: ${showError(e)}`);
  const form = $("#chat-form");
  const input = $("#chat-input");
  const send = $("#chat-send");
  const stop = $("#chat-stop");
  const device = $("#chat-device");
  const messages = [];
  let model = null, controller = null;

  device.value = adapter?.available && !adapter?.isFallbackAdapter ? "webgpu" : "cpu";

  const load = async () => {
    send.disabled = true;
    model?.dispose();
    model = null;
    messages.length = 0;
    $("#chat-log").replaceChildren();
    setStatus("loading");
    setBar(0, "fetching config and tokenizer…");
    try {
      const t0 = performance.now();
      model = await webfm.TextModel.load(MODEL_URL, {
        device: device.value,
        onProgress: ({ file, loaded, total }) => {
          if (/\.safetensors$/.test(file)) setBar(total ? loaded / total : 0, `${file}: ${mb(loaded)}${total ? ` / ${mb(total)}` : ""} MB`);
        },
      });
      const info = model.info();
      const where = String(info.device).replace(/^(webgpu|cpu):\s*/i, "");
      setBar(1, `ready · ${info.deviceKind === "webgpu" ? "WebGPU" : "CPU"}`);
      $("#chat-model").textContent = `SmolLM2-135M-Instruct · ${mb(info.load.bytes)} MB of 4/8-bit weights in ${Math.round(performance.now() - t0)} ms · ${where}`;
      setStatus("ready");
      send.disabled = false;
    } catch (e) {
      $("#chat-progress-label").textContent = "failed";
      fail(e);
    }
  };

  const ask = async () => {
    const text = input.value.trim();
    if (!model || controller || !text) return;
    messages.push({ role: "user", content: text });
    const answer = el("div", { className: "msg assistant" });
    $("#chat-log").append(el("div", { className: "msg user" }, text), answer);
    input.value = "";
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    setStatus("generating");
    try {
      const it = model.generate(messages, {
        maxNewTokens: Number($("#chat-max").value) || 128,
        temperature: Number($("#chat-temperature").value) || 0,
        topP: Number($("#chat-top-p").value) || 1,
        seed: Date.now() % 1_000_000,
        signal: controller.signal,
      });
      for await (const piece of it) answer.textContent += piece;
      const s = it.stats();
      messages.push({ role: "assistant", content: answer.textContent });
      $("#chat-speed").textContent = `${s.newTokens} tokens · first after ${Math.round(s.msFirstToken)} ms · ${s.tokensPerSecond.toFixed(1)} tokens/s · ${s.finish}`;
      setStatus(s.finish === "cancelled" ? "stopped" : "done");
    } catch (e) {
      messages.pop();
      fail(e);
    } finally {
      controller = null;
      send.disabled = false;
      stop.disabled = true;
    }
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ask();
  });
  stop.addEventListener("click", () => controller?.abort());
  device.addEventListener("change", () => {
    controller?.abort();
    load();
  });
  await load();
}
