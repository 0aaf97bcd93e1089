// Models by id, as transformers.js resolves them: "owner/name" (or "name")
// becomes {remoteHost}{remotePathTemplate}, with {model} and {revision}
// filled in, and a folder at {localModelPath}{id}/ is tried first when
// local models are allowed. A string with a scheme ("https:", "blob:"), a
// leading "/" or "." or a trailing "/" is a folder URL (a path in Node), not
// an id.

const IN_BROWSER = typeof window !== "undefined" || typeof WorkerGlobalScope !== "undefined";

/**
 * Where ids resolve: change the fields before loading (`env.remoteHost =
 * "https://my-mirror.example/"`). The default host is Hugging Face's; no
 * test contacts it.
 */
export const env = {
  remoteHost: "https://huggingface.co/",
  remotePathTemplate: "{model}/resolve/{revision}/",
  // In Node a folder path, relative to the working directory.
  localModelPath: IN_BROWSER ? "/models/" : "./models/",
  allowRemoteModels: true,
  // As transformers.js: on in Node (a folder next to the script), off in
  // browsers, where a probe of the page's own /models/ would 404 on most sites.
  allowLocalModels: !IN_BROWSER,
};

const ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;

/** Whether `s` names a model by id rather than a folder URL or path. */
export function isModelId(s) {
  return typeof s === "string" && !s.endsWith("/") && !s.startsWith(".") && !/^[a-z][a-z0-9+.-]*:/i.test(s) && ID.test(s) && !s.includes("..");
}

const slash = (s) => (s.endsWith("/") ? s : `${s}/`);

/** The folder URL of `id` at `revision` on the remote host. */
export function remoteFolder(id, revision = "main") {
  const path = env.remotePathTemplate.replaceAll("{model}", id).replaceAll("{revision}", encodeURIComponent(revision));
  return slash(slash(env.remoteHost) + path.replace(/^\//, ""));
}

export class ModelNotFoundError extends Error {
  constructor(message, tried) {
    super(message);
    this.name = "ModelNotFoundError";
    this.tried = tried;
  }
}

/**
 * The folder an id loads from: `{localModelPath}{id}/` when it has a
 * `config.json` (and local models are allowed), else the remote folder
 * (when remote models are allowed). `probe(url)` answers whether a file
 * exists there (a HEAD request, or a file check in Node).
 */
export async function resolveModel(id, { revision = "main", probe }) {
  if (typeof revision !== "string" || !revision) throw new TypeError("webfm: revision must be a non-empty string (a branch, tag or commit)");
  const tried = [];
  if (env.allowLocalModels && env.localModelPath) {
    const local = slash(slash(env.localModelPath) + id);
    if (await probe(`${local}config.json`)) return local;
    tried.push(`${local}config.json`);
  }
  if (env.allowRemoteModels) return remoteFolder(id, revision);
  const why = env.allowLocalModels ? `not found locally (tried ${tried.join(", ")}) and env.allowRemoteModels is false` : "env.allowLocalModels and env.allowRemoteModels are both false";
  throw new ModelNotFoundError(`webfm: cannot load model "${id}": ${why}`, tried);
}
