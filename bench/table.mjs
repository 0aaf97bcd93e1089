#!/usr/bin/env node
// Prints the GEMM results in bench/out/*.json as one Markdown table (GFLOP/s),
// for bench/README.md.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "out");
const load = (f) => (existsSync(join(OUT, f)) ? JSON.parse(readFileSync(join(OUT, f), "utf8")) : []);
const rows = [
  ...load("native-gemm.json").map((r) => ({ ...r, where: "native" })),
  ...load("browser-gemm.json").map((r) => ({ ...r, where: "Chromium" })),
];
const size = (r) => (r.m === 1 ? `1×${r.k}×${r.n} GEMV${r.bt ? ", B [N, K]" : ""}` : `${r.m}³`);
const sizes = [...new Set(rows.map(size))];
const key = (r) => `${r.where} · ${r.device === "cpu" ? "CPU (candle)" : `WebGPU ${r.requested ?? r.kernel} kernel`}`;
const groups = new Map();
for (const r of rows) {
  const k = key({ ...r, kernel: r.kernel === "naive" ? "naive" : "tiled" });
  if (!groups.has(k)) groups.set(k, { adapter: r.adapter, cells: {} });
  groups.get(k).cells[size(r)] = r.gflops;
}
console.log(`| path | adapter | ${sizes.join(" | ")} |`);
console.log(`| --- | --- | ${sizes.map(() => "---:").join(" | ")} |`);
for (const [k, g] of groups)
  console.log(`| ${k} | ${g.adapter} | ${sizes.map((s) => (g.cells[s] == null ? "–" : g.cells[s].toFixed(2))).join(" | ")} |`);

// Quantized GEMV: effective GB/s of weights read.
const q = [
  ...load("native-qgemv.json").map((r) => ({ ...r, where: "native" })),
  ...load("browser-qgemv.json").map((r) => ({ ...r, where: "Chromium" })),
].filter((r) => !r.error);
if (q.length) {
  const shapes = [...new Set(q.map((r) => `${r.n}×${r.k}`))];
  console.log(`\n| path | format | ${shapes.map((s) => `${s} ms | ${s} GB/s`).join(" | ")} |`);
  console.log(`| --- | --- | ${shapes.map(() => "---: | ---:").join(" | ")} |`);
  const rowsQ = new Map();
  for (const r of q) {
    const k = `${r.where} · ${r.device === "cpu" ? "CPU" : "WebGPU"}|${r.format}`;
    if (!rowsQ.has(k)) rowsQ.set(k, {});
    rowsQ.get(k)[`${r.n}×${r.k}`] = r;
  }
  for (const [k, cells] of rowsQ) {
    const [path, format] = k.split("|");
    console.log(`| ${path} | ${format} | ${shapes.map((s) => (cells[s] ? `${cells[s].ms.toFixed(2)} | ${cells[s].gbPerS?.toFixed?.(2) ?? cells[s].gb_per_s.toFixed(2)}` : "– | –")).join(" | ")} |`);
  }
}
