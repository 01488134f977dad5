// Node 20 needs `with { type: "json" }` for JSON modules; the parser imports its schema without it.
export async function load(url, context, nextLoad) {
  if (url.endsWith(".json")) return nextLoad(url, { ...context, importAttributes: { type: "json" } });
  return nextLoad(url, context);
}
