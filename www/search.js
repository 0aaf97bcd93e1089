// "Embed & search" page: all-MiniLM-L6-v2 (the model shared with the classify
// page) embeds a small built-in corpus once per device, then ranks the corpus
// against a query by cosine similarity (the embeddings are L2-normalised, so a
// dot product).
//
// `#search-status` reads "loading", "indexing i/n", "searching", "ready" or
// "error: ..."; `#search-results` holds one `.hit` per result (`.text`,
// `.score`), best first (the browser tests read them).

import { $, cardUi, deviceDetail, deviceName, el, loadFacts, ms, onDevice } from "./card.js";
import { encoder } from "./encoder.js";

const BATCH = 8; // sentences per embed() call while indexing, so progress shows
const TOP_K = 5;

export const CORPUS = [
  ["animals", "The cheetah is the fastest land animal, reaching about 100 km/h in short bursts."],
  ["animals", "Octopuses have three hearts and blue blood."],
  ["animals", "My dog waits by the door every evening until I come home."],
  ["animals", "Honeybees tell each other where the flowers are with a waggle dance."],
  ["cooking", "Knead the dough, let it rise until doubled, then bake the bread at 220 °C until the crust is golden."],
  ["cooking", "Simmer the tomato sauce with garlic and basil for twenty minutes."],
  ["cooking", "A sharp knife is safer than a dull one when chopping onions."],
  ["cooking", "Sear the steak in a very hot pan and let it rest before slicing."],
  ["sports", "The striker scored twice in the second half to win the cup final."],
  ["sports", "Marathon runners often hit the wall around the thirtieth kilometre."],
  ["sports", "She served three aces in a row to take the tennis set."],
  ["sports", "The hockey team trains on the ice every morning before the season starts."],
  ["finance", "The central bank raised interest rates by a quarter of a point."],
  ["finance", "Index funds spread your savings across hundreds of companies for a low fee."],
  ["finance", "Shares fell sharply after the company missed its quarterly earnings forecast."],
  ["finance", "Paying off your credit card in full each month avoids interest charges."],
  ["programming", "Rust's borrow checker rejects code that could cause a data race."],
  ["programming", "Use a hash map when you need fast lookups by key."],
  ["programming", "The crash went away once we checked for null before the loop."],
  ["programming", "Create a git branch, commit your changes and open a pull request."],
  ["travel", "The night train from Vienna to Venice crosses the Alps while you sleep."],
  ["travel", "Check whether you need a visa before you book the flight."],
  ["travel", "We rented bicycles and rode along the canals of Amsterdam."],
  ["travel", "The hostel near the beach has a rooftop terrace overlooking the harbour."],
  ["weather", "Heavy rain and strong winds are expected along the coast tonight."],
  ["weather", "A heatwave kept temperatures above 40 degrees for a whole week."],
  ["weather", "Fresh snow fell overnight, so the mountain passes are closed."],
  ["music", "The orchestra tuned up before playing Beethoven's Fifth Symphony."],
  ["music", "He practises guitar scales for half an hour every day."],
  ["music", "The band's new album mixes jazz with electronic beats."],
];

const ui = cardUi("search");

function setFact(name, text) {
  $(`#search-${name}`).textContent = text;
}

/** Top `k` corpus rows for `q` (a normalised vector): [{i, score}], best first. */
function rank(index, q, k) {
  const scored = index.map((v, i) => {
    let s = 0;
    for (let j = 0; j < v.length; j++) s += v[j] * q[j];
    return { i, score: s };
  });
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, k);
}

function renderHits(hits) {
  $("#search-results").replaceChildren(...hits.map(({ i, score }) => {
    const [topic, text] = CORPUS[i];
    const bar = el("span", { className: "hit-bar" }, el("span", {}));
    bar.firstChild.style.width = `${(Math.max(0, Math.min(1, score)) * 100).toFixed(1)}%`;
    return el("li", { className: "hit" },
      el("span", { className: "hit-main" },
        el("span", { className: "text" }, text), " ",
        el("span", { className: "tag" }, topic)),
      bar,
      el("span", { className: "score" }, score.toFixed(3)));
  }));
}

/** Sets up the page; `load(device)` (re)loads the model and indexes the corpus. Never throws. */
export function searchPage() {
  const input = $("#search-query");
  const button = $("#search-run");
  let model = null, index = null, searching = false;
  let device = null;
  let generation = 0; // bumped by each load: a stale load's results are dropped

  $("#search-corpus-summary").textContent = `the corpus (${CORPUS.length} sentences)`;
  $("#search-corpus").replaceChildren(...CORPUS.map(([topic, text]) =>
    el("li", {}, text, " ", el("span", { className: "tag" }, topic))));

  const search = async () => {
    const query = input.value.trim();
    if (!index || searching) return;
    if (!query) {
      input.focus();
      return;
    }
    const mine = generation;
    searching = true;
    button.disabled = true;
    ui.clear();
    ui.setStatus("running", "searching");
    try {
      const t0 = performance.now();
      const q = await model.embed(query);
      const t1 = performance.now();
      const hits = rank(index, q, TOP_K);
      const t2 = performance.now();
      if (mine !== generation) return;
      renderHits(hits);
      setFact("time", `${(t2 - t0).toFixed(1)} ms (embed ${(t1 - t0).toFixed(1)} ms, rank ${CORPUS.length} vectors ${(t2 - t1).toFixed(2)} ms)`);
      ui.setStatus("ready");
    } catch (e) {
      if (mine === generation) ui.showError(e, "Search failed");
    } finally {
      if (mine === generation) {
        searching = false;
        button.disabled = !index;
      }
    }
  };

  const load = async (d) => {
    device = d;
    const mine = ++generation;
    model = index = null;
    searching = false; // a search on the old model is dropped
    button.disabled = true;
    ui.clear();
    $("#search-results").replaceChildren();
    for (const name of ["device", "load", "index", "time"]) setFact(name, "—");
    ui.setStatus("running", "loading");
    ui.setBar(0, "fetching config and tokenizer…");
    try {
      const m = await encoder(device, (p) => mine === generation && ui.progress(p));
      if (mine !== generation) return;
      const info = m.info();
      setFact("device", `${deviceName(info.deviceKind)} · ${deviceDetail(info)}`);
      setFact("load", `${loadFacts(info)} · ${info.layers} layers, ${info.hidden}-dim vectors`);

      // Index the corpus, a batch at a time.
      const texts = CORPUS.map(([, t]) => t);
      const vectors = [];
      const t1 = performance.now();
      const progress = () => {
        ui.setStatus("running", `indexing ${vectors.length}/${texts.length}`);
        ui.setBar(vectors.length / texts.length, `indexing… ${vectors.length}/${texts.length} sentences`);
      };
      progress();
      for (let i = 0; i < texts.length; i += BATCH) {
        const vs = await m.embed(texts.slice(i, i + BATCH));
        if (mine !== generation) return;
        vectors.push(...vs);
        progress();
      }
      const indexMs = performance.now() - t1;
      setFact("index", `${texts.length} sentences in ${ms(indexMs)} (${(indexMs / texts.length).toFixed(0)} ms each, batches of ${BATCH})`);
      ui.setBar(1, `ready · ${deviceName(info.deviceKind)}`);
      [model, index] = [m, vectors];
      button.disabled = false;
      ui.setStatus("ready"); // what stays when the query box is empty
      await search();
    } catch (e) {
      if (mine !== generation) return;
      $("#search-progress-label").textContent = "failed";
      ui.showError(e, `Could not load all-MiniLM-L6-v2 on ${onDevice(device)}`);
    }
  };

  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  $("#search-retry").addEventListener("click", () => load(device));
  return { load };
}
