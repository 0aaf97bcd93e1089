// What constrained decoding costs per token, on the wasm CPU path (the
// package in Node, the release .wasm of scripts/build.sh), SmolLM2-135M from
// .cache/models/smollm2: the same chat prompt generated with a JSON schema
// and without (the same number of tokens, `ignoreEos`), interleaved, 3
// rounds. Prints the rows of README.md.
//
//   node bench/constrained/bench.mjs

import { TextModel } from "../../pkg/index.js";

const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    age: { type: "integer", minimum: 0, maximum: 120 },
    hobbies: { type: "array", items: { type: "string", maxLength: 20 }, maxItems: 3 },
    city: { enum: ["Lisbon", "Porto", "Paris", "London"] },
  },
  required: ["name", "age", "hobbies", "city"],
  additionalProperties: false,
};

const lm = await TextModel.load(new URL("../../.cache/models/smollm2/", import.meta.url).pathname, { device: "cpu" });
const prompt = [{ role: "user", content: "Make up a person: name, age, hobbies and city, as JSON." }];

async function run(options) {
  const it = lm.generate(prompt, options);
  let text = "";
  for await (const piece of it) text += piece;
  return { text, ...it.stats() };
}

// Warm-up: the token trie is built on the first constrained call (timed apart).
const t0 = performance.now();
await run({ maxNewTokens: 2, jsonSchema: schema });
const firstUse = performance.now() - t0;
await run({ maxNewTokens: 4, ignoreEos: true });

const rows = [];
for (let round = 0; round < 3; round++) {
  const c = await run({ maxNewTokens: 80, jsonSchema: schema });
  const u = await run({ maxNewTokens: c.newTokens, ignoreEos: true });
  rows.push({ c, u });
}
const fmt = (x, d = 1) => x.toFixed(d);
console.log(`first constrained call (token trie for ${lm.info().vocab} tokens + grammar): ${Math.round(firstUse)} ms`);
console.log("| round | tokens | free tok/s | schema tok/s | ratio | mask ms/token |");
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
rows.forEach(({ c, u }, i) => {
  console.log(`| ${i + 1} | ${c.newTokens} | ${fmt(u.tokensPerSecond)} | ${fmt(c.tokensPerSecond)} | ${fmt(c.tokensPerSecond / u.tokensPerSecond, 2)} | ${fmt(c.maskMs / c.newTokens, 2)} |`);
});
console.log(`output: ${rows[0].c.text}`);
lm.dispose();
