// Driving the demo (www/) through its DOM, for the tests that open it
// (demo.test.mjs, csp.test.mjs): waiting on a card's status, each page's main
// flow (search, classify, fine-tune, chat) as a visitor does it, the checks of
// what the pages show, and SmolLM2's detokenizer to read the chat's golden ids.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { golden, log, MINUTE, ROOT } from "./common.mjs";

export const CHAT = golden("smollm2_generate.json").cases.find((c) => c.chat);
export const QUESTION = CHAT.messages[0].content;

/** The text of token ids through SmolLM2's byte-level BPE decoder (GPT-2's byte-to-character table, reversed). */
export const decode = (() => {
  const tok = JSON.parse(readFileSync(join(ROOT, ".cache", "models", "smollm2", "tokenizer.json"), "utf8"));
  const token = new Map(Object.entries(tok.model.vocab).map(([t, id]) => [id, t]));
  const printable = [];
  for (const [lo, hi] of [[33, 126], [161, 172], [174, 255]]) for (let b = lo; b <= hi; b++) printable.push(b);
  const byte = new Map(printable.map((b) => [String.fromCodePoint(b), b]));
  let shifted = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) byte.set(String.fromCodePoint(256 + shifted++), b);
  return (ids) => Buffer.from([...ids.map((id) => token.get(id)).join("")].map((c) => byte.get(c))).toString("utf8");
})();

/** Waits until `#<card>-status` reads one of `states` or "error: ..."; returns it. */
export async function settle(page, card, states, timeout = 8 * MINUTE) {
  await page.waitForFunction(({ card, states }) => {
    const s = document.querySelector(`#${card}-status`)?.textContent ?? "";
    return states.includes(s) || s.startsWith("error");
  }, { card, states }, { timeout, polling: 100 });
  return page.textContent(`#${card}-status`);
}

/** A card's status and the text of its error panel ("" while hidden), for assertion messages. */
const cardState = (page, card) => page.evaluate((card) => {
  const panel = document.querySelector(`#${card}-error`);
  return { status: document.querySelector(`#${card}-status`).textContent, error: panel.hidden ? "" : panel.textContent.trim() };
}, card);

export async function expectStatus(page, card, states) {
  const status = await settle(page, card, states);
  const s = await cardState(page, card);
  assert.ok(states.includes(status), `#${card}-status "${s.status}"; error panel: ${s.error}`);
  assert.equal(s.error, "", `#${card}-error is showing`);
}

/** Opens a page through its tab, as a visitor would. */
export const openTab = (page, name) => page.click(`#tab-${name}`);

/** The search results in the page (for `$$eval`). */
export const hitRows = (hits) => hits.map((h) => ({ text: h.querySelector(".text").textContent, score: Number(h.querySelector(".score").textContent) }));

export async function search(page, query) {
  await page.fill("#search-query", query);
  await page.click("#search-run");
  await expectStatus(page, "search", ["ready"]);
  return page.$$eval("#search-results .hit", hitRows);
}


export function assertBreadFirst(hits) {
  for (const h of hits) log(`  ${h.score.toFixed(3)}  ${h.text}`);
  assert.equal(hits.length, 5, "five hits");
  assert.match(hits[0].text, /bake the bread/, "the bread sentence is the top hit");
  for (const h of hits) assert.ok(Number.isFinite(h.score) && h.score >= -1 && h.score <= 1, `score ${h.score} is a cosine`);
  for (let i = 1; i < hits.length; i++)
    assert.ok(hits[i - 1].score >= hits[i].score, `scores sorted descending: ${hits.map((h) => h.score).join(", ")}`);
  assert.ok(hits[0].score - hits[1].score > 0.1, `the bread sentence wins clearly: ${hits[0].score} vs ${hits[1].score}`);
}

/** Classifies `text` against `labels` on the Classify page (already open); returns the rows, best first. */
export async function classify(page, text, labels) {
  await expectStatus(page, "classify", ["ready"]); // the page classifies its example once loaded
  await page.fill("#classify-text", text);
  await page.fill("#classify-labels", labels);
  await page.click("#classify-run");
  await expectStatus(page, "classify", ["ready"]);
  const rows = await page.$$eval("#classify-results .label-row", (rs) => rs.map((r) => ({
    label: r.querySelector(".label").textContent,
    score: Number.parseFloat(r.querySelector(".score").textContent) / 100,
  })));
  log(`classify: ${rows.map((r) => `${r.label} ${r.score.toFixed(3)}`).join(", ")}`);
  return rows;
}

export function assertSportsFirst(rows) {
  assert.deepEqual(rows.map((r) => r.label).sort(), ["cooking", "finance", "sports"]);
  assert.equal(rows[0].label, "sports", `the football text is about sports: ${JSON.stringify(rows)}`);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].score >= rows[i].score, `scores sorted: ${JSON.stringify(rows)}`);
  const sum = rows.reduce((s, r) => s + r.score, 0);
  assert.ok(Math.abs(sum - 1) < 0.005, `the scores are probabilities summing to 1 (shown to 0.1%), got ${sum}`);
}

export const FOOTBALL = ["The striker scored twice and the team won the cup final.", "sports, cooking, finance"];

/** Trains on the Fine-tune page (open, model ready) with what the form holds; returns what the page shows. */
export async function finetune(page, { method = "head", epochs } = {}) {
  await page.selectOption("#finetune-method", method);
  if (epochs) await page.fill("#finetune-epochs", String(epochs));
  await page.click("#finetune-train");
  await expectStatus(page, "finetune", ["done"]);
  const r = await page.evaluate(() => {
    const text = (id) => document.querySelector(`#finetune-${id}`).textContent;
    const line = document.querySelector("#finetune-chart polyline.loss");
    return {
      accuracy: Number.parseFloat(text("accuracy")) / 100,
      zeroShot: Number.parseFloat(text("zeroshot")) / 100,
      points: line.getAttribute("points").trim().split(/\s+/).filter(Boolean).length,
      step: text("step"),
      steps: text("steps-label"),
      detail: text("eval-detail"),
      device: text("device"),
      tried: [...document.querySelectorAll("#finetune-try-results .label")].map((l) => l.textContent),
      downloads: !document.querySelector("#finetune-downloads").hidden,
    };
  });
  log(`finetune ${method}: ${r.steps} · ${r.detail}`);
  return r;
}

/** Sends `message` on the Chat page (loaded) and waits for the answer; returns the last answer and its stats line. */
export async function chat(page, message, { temperature, maxTokens }) {
  await page.fill("#chat-input", message);
  await page.fill("#chat-temperature", String(temperature));
  await page.fill("#chat-max", String(maxTokens));
  await page.click("#chat-send");
  await expectStatus(page, "chat", ["done"]);
  return page.evaluate(() => {
    const turns = [...document.querySelectorAll("#chat-log .msg")].map((m) => [m.className, m.textContent]);
    return { turns, answer: turns.at(-1)[1], speed: document.querySelector("#chat-speed").textContent, model: document.querySelector("#chat-model").textContent };
  });
}
