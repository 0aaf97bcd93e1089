// Option objects the wrapper reads itself are checked as the wasm side checks
// its own: a field that is not an option is an error that names it and lists
// the valid ones, in serde's words ("unknown field `x`, expected one of ...").

const quote = (names) => names.map((n) => `\`${n}\``).join(", ");

function describe(v) {
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return "an array";
  return typeof v;
}

/** Throws unless `options` is undefined, null or an object whose keys are all in `names`. */
export function checkOptions(what, options, names) {
  if (options === undefined || options === null) return;
  if (typeof options !== "object" || Array.isArray(options)) throw new TypeError(`webfm: ${what}: expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!names.includes(key)) {
      const expected = names.length === 1 ? `expected ${quote(names)}` : `expected one of ${quote(names)}`;
      throw new TypeError(`webfm: ${what}: unknown field \`${key}\`, ${expected}`);
    }
  }
}
