// The header: the device every page's models run on. It shows the WebGPU
// adapter (name, software or not, shader-f16, the storage binding limit) or
// the CPU path, and the select that moves the models between the two.
//
// The first device is `?device=webgpu|cpu` when given (and possible here),
// else WebGPU on a real adapter and the CPU path on a software adapter
// (SwiftShader decodes ~0.3 tokens/s where the wasm CPU path does ~20) or
// without one.

import { adapterInfo } from "/pkg/index.js";
import { $, binary, el, message } from "./card.js";

/**
 * The adapter webfm would use. wgpu's WebGPU backend passes on only the
 * adapter's description and fallback flag, so empty fields are filled from
 * the browser's own GPUAdapterInfo. Never throws: a failure is an adapter
 * that is not available, with the reason.
 */
export async function detectAdapter() {
  let info;
  try {
    info = await adapterInfo();
  } catch (e) {
    return { available: false, reason: message(e) };
  }
  if (!info.available || !navigator.gpu) return info;
  try {
    const a = await navigator.gpu.requestAdapter();
    const b = a?.info;
    if (!b) return info;
    const empty = (v) => v === undefined || v === "" || v === "unnamed adapter";
    const out = { ...info, browserFeatures: [...a.features].sort() };
    if (empty(out.vendor)) out.vendor = b.vendor;
    if (empty(out.architecture)) out.architecture = b.architecture;
    if (empty(out.name)) out.name = b.description || [b.vendor, b.architecture].filter(Boolean).join(" ") || out.name;
    return out;
  } catch {
    return info; // the browser's details are a nicety; webfm's own info stands
  }
}

/** A software adapter (SwiftShader, llvmpipe): the CPU path is faster than it. */
export function isSoftware(a) {
  return a.isFallbackAdapter === true || /^cpu$/i.test(a.deviceType ?? "") ||
    /swiftshader|llvmpipe|lavapipe/i.test([a.name, a.vendor, a.architecture, a.driver].join(" "));
}

function initialDevice(adapter) {
  const asked = new URLSearchParams(location.search).get("device");
  if (asked === "cpu" || (asked === "webgpu" && adapter.available)) return asked;
  return adapter.available && !isSoftware(adapter) ? "webgpu" : "cpu";
}

/** The adapter in one line of facts. */
function adapterLine(a) {
  const f16 = (a.features ?? []).includes("shader-f16");
  const chip = (text, cls = "") => el("span", { className: `chip ${cls}` }, text);
  return [
    el("span", { className: "adapter-name" }, a.name || "unnamed adapter"),
    chip(isSoftware(a) ? "software (fallback)" : "hardware", isSoftware(a) ? "warn" : "ok"),
    chip(`shader-f16: ${f16 ? "yes" : "no"}`, f16 ? "ok" : ""),
    chip(`max storage binding: ${binary(a.limits?.maxStorageBufferBindingSize)}`),
  ];
}

function render(adapter, device) {
  const box = $("#device-info");
  if (device === "webgpu") {
    box.replaceChildren(el("div", { className: "device-line" }, el("strong", {}, "WebGPU"), ...adapterLine(adapter)));
    return;
  }
  const other = !adapter.available
    ? el("div", { className: "small muted", title: adapter.reason ?? "" }, "WebGPU unavailable here (the Kernels page says why)")
    : el("div", { className: "device-line small muted" }, "WebGPU adapter:", ...adapterLine(adapter));
  box.replaceChildren(el("div", { className: "device-line" }, el("strong", {}, "CPU path (WebAssembly SIMD)")), other);
}

/**
 * Fills the header for `adapter` and wires its select: `onChange(device)`
 * runs on every switch (the URL keeps the choice for a reload). Returns the
 * first device.
 */
export function deviceHeader(adapter, onChange) {
  const select = $("#device");
  const device = initialDevice(adapter);
  const webgpu = select.querySelector('option[value="webgpu"]');
  webgpu.disabled = !adapter.available;
  if (!adapter.available) webgpu.textContent = "WebGPU (unavailable)";
  select.value = device;
  select.disabled = false;
  render(adapter, device);
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("device", select.value);
    history.replaceState(null, "", url);
    render(adapter, select.value);
    onChange(select.value);
  });
  return device;
}

/**
 * A model's `onDeviceLost` event, shown in the header until the next one:
 * when the GPU device was lost, and where the model went (reloaded on a new
 * device, or not, with why). `name` says which page's model.
 */
export function deviceLost(name, event) {
  const box = $("#device-info");
  const when = new Date().toLocaleTimeString();
  const what = event.recovered ? `reloaded on ${event.to}` : `could not be reloaded: ${event.error}`;
  box.querySelector(".device-lost")?.remove();
  box.append(el("div", { className: "device-lost small warn", title: event.reason }, `GPU device lost at ${when}: the ${name} model was ${what}`));
}
