// "Embed & search" card: load all-MiniLM-L6-v2 on the best device, embed a
// small built-in corpus once, then rank the corpus against a query by cosine
// similarity (the embeddings are L2-normalised, so a dot product).
//
// `#search-status` ends as "ready" after the first search or "error: ...";
// `#search-results` holds one `.hit` per result (`.text`, `.score`), best first
// (the browser tests read them).

import { $, cardUi, el, mb } from "./card.js";

const MODEL_URL = "/models/minilm/";
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

const ms = (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

const { setStatus, setBar } = cardUi("search");

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
  const list = $("#search-results");
  list.replaceChildren(...hits.map(({ i, score }) => {
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

/**
 * Runs the card: load, index, first search. Never throws; failures go to the
 * error panel through `showError` and to `#search-status`.
 */
export async function startSearch(webfm, { showError }) {
  const fail = (e) => setStatus("error", `error: ${showError(e)}`);
  const form = $("#search-form");
  const input = $("#search-query");
  const button = $("#search-run");
  let model, index, searching = false;

  $("#search-corpus-summary").textContent = `the corpus (${CORPUS.length} sentences)`;
  $("#search-corpus").replaceChildren(...CORPUS.map(([topic, text]) =>
    el("li", {}, text, " ", el("span", { className: "tag" }, topic))));

  const search = async () => {
    if (!index || searching) return;
    const query = input.value.trim();
    if (!query) {
      input.focus();
      return;
    }
    searching = true;
    button.disabled = true;
    setStatus("running", "searching");
    try {
      const t0 = performance.now();
      const q = await model.embed(query);
      const t1 = performance.now();
      const hits = rank(index, q, TOP_K);
      const t2 = performance.now();
      renderHits(hits);
      setFact("time", `${(t2 - t0).toFixed(1)} ms (embed ${(t1 - t0).toFixed(1)} ms, rank ${CORPUS.length} vectors ${(t2 - t1).toFixed(2)} ms)`);
      setStatus("ready");
    } catch (e) {
      fail(e);
    } finally {
      searching = false;
      button.disabled = false;
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });

  try {
    // Load, with the weights' download as the progress bar.
    setStatus("running", "loading");
    setBar(0, "fetching config and tokenizer…");
    const t0 = performance.now();
    model = await webfm.Model.load(MODEL_URL, {
      device: "auto",
      onProgress: ({ file, loaded, total }) => {
        if (!/\.safetensors$/.test(file)) return;
        setBar(total ? loaded / total : 0,
          `${file}: ${mb(loaded)}${total ? ` / ${mb(total)}` : ""} MB`);
      },
    });
    const loadMs = performance.now() - t0;
    const info = model.info();
    const kind = info.deviceKind === "webgpu" ? "WebGPU" : info.deviceKind === "cpu" ? "CPU" : String(info.deviceKind);
    setFact("device", `${kind} · ${String(info.device).replace(/^(webgpu|cpu):\s*/i, "")}`);
    setFact("load", `${mb(info.load?.bytes ?? 0)} MB of weights in ${ms(loadMs)}` +
      ` · ${info.layers} layers, ${info.hidden}-dim vectors`);

    // Index the corpus, a batch at a time.
    const texts = CORPUS.map(([, t]) => t);
    index = [];
    const t1 = performance.now();
    const progress = () => {
      setStatus("running", `indexing ${index.length}/${texts.length}`);
      setBar(index.length / texts.length, `indexing… ${index.length}/${texts.length} sentences`);
    };
    progress();
    for (let i = 0; i < texts.length; i += BATCH) {
      const vs = await model.embed(texts.slice(i, i + BATCH));
      index.push(...vs);
      progress();
    }
    const indexMs = performance.now() - t1;
    setFact("index", `${texts.length} sentences in ${ms(indexMs)} (${(indexMs / texts.length).toFixed(0)} ms each, batches of ${BATCH})`);
    setBar(1, `ready · ${kind}`);
    $("#search-card").dataset.ready = "";

    button.disabled = false;
    await search();
  } catch (e) {
    index = null;
    $("#search-progress-label").textContent = "failed";
    fail(e);
  }
}
