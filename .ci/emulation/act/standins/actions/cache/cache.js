// Stand-in for actions/cache: restore (main) and save (post) under $ACT_CACHE_STORE/<ref>/<key>/, with GitHub's
// cache scoping: an entry belongs to the ref (GITHUB_REF) of the run that saved it, and a run restores only
// entries of its own ref, then (pull_request events) of its base branch, then of the default branch. A pull
// request never sees another pull request's or another branch's cache.
const fs = require("fs");
const path = require("path");

const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] || "").trim();
const store = process.env.ACT_CACHE_STORE;
const workspace = process.env.GITHUB_WORKSPACE;
const ref = process.env.GITHUB_REF || "";
// actions/cache: restore in main, save in post. actions/cache/restore and actions/cache/save (restore/restore.js
// and save/save.js) run one half each.
const mode = process.env.CACHE_STANDIN_MODE || "";
const isPost = mode === "save" || (mode === "" && process.env.STATE_phase === "main");
const usesName = mode ? `actions/cache/${mode}` : "actions/cache";

function record(entry) {
  const file = path.join(process.env.ACT_RECORD_DIR, "calls.jsonl");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const inputs = { path: input("path"), key: input("key"), "restore-keys": input("restore-keys") };
  fs.appendFileSync(file, JSON.stringify({ uses: usesName, inputs, ref, ...entry }) + "\n");
}

function entryDir(entryRef, key) {
  return path.join(store, encodeURIComponent(entryRef), encodeURIComponent(key));
}

function defaultBranch() {
  try {
    const event = JSON.parse(fs.readFileSync(process.env.GITHUB_EVENT_PATH, "utf8"));
    return (event.repository && event.repository.default_branch) || "main";
  } catch {
    return "main";
  }
}

// The refs whose caches this run may restore, in GitHub's search order: its own, the PR's base, the default branch.
function scopes() {
  const refs = [ref];
  const base = process.env.GITHUB_BASE_REF || "";
  if ((process.env.GITHUB_EVENT_NAME || "").startsWith("pull_request") && base) refs.push(`refs/heads/${base}`);
  refs.push(`refs/heads/${defaultBranch()}`);
  return [...new Set(refs)];
}

// Every entry in the store: {ref, key, dir, mtimeMs}.
function entries() {
  if (!fs.existsSync(store)) return [];
  return fs.readdirSync(store).flatMap((r) => {
    const dir = path.join(store, r);
    if (!fs.statSync(dir).isDirectory()) return [];
    return fs.readdirSync(dir).map((k) => ({
      ref: decodeURIComponent(r),
      key: decodeURIComponent(k),
      dir: path.join(dir, k),
      mtimeMs: fs.statSync(path.join(dir, k)).mtimeMs,
    }));
  });
}

function restore() {
  if (process.env.GITHUB_STATE) fs.appendFileSync(process.env.GITHUB_STATE, "phase=main\n");
  const key = input("key");
  const target = path.resolve(workspace, input("path"));
  const prefixes = input("restore-keys").split("\n").map((s) => s.trim()).filter(Boolean);
  const matches = (k) => k === key || prefixes.some((p) => k.startsWith(p));
  const all = entries();
  const allowed = scopes();
  // Like GitHub: the exact key, then each restore-key (newest entry first), in the run's own ref, then the next scope.
  let matched = null;
  for (const scope of allowed) {
    const inScope = all.filter((e) => e.ref === scope).sort((a, b) => b.mtimeMs - a.mtimeMs);
    matched = inScope.find((e) => e.key === key) || null;
    for (const prefix of prefixes) {
      if (matched) break;
      matched = inScope.find((e) => e.key.startsWith(prefix)) || null;
    }
    if (matched) break;
  }
  // What the key or a restore-key would have matched on a machine without scoping (recorded for the tests).
  const skipped = all.filter((e) => !allowed.includes(e.ref) && matches(e.key)).map(({ ref, key }) => ({ ref, key }));
  if (matched) {
    fs.mkdirSync(target, { recursive: true });
    fs.cpSync(matched.dir, target, { recursive: true });
  }
  const matchedKey = matched ? matched.key : "";
  const hit = matchedKey === key;
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `cache-hit=${hit}\ncache-primary-key=${key}\ncache-matched-key=${matchedKey}\n`);
  fs.appendFileSync(process.env.GITHUB_STATE, `matched=${matchedKey}\nkey=${key}\n`);
  console.log(matched ? `Cache restored from key: ${matchedKey} (saved on ${matched.ref})` : `Cache not found for input keys: ${key}`);
  for (const s of skipped) console.log(`Not restorable from ${ref} (cache scoping): ${s.key} saved on ${s.ref}`);
  record({
    phase: "restore",
    matched: matchedKey,
    matched_ref: matched ? matched.ref : "",
    hit,
    scopes: allowed,
    skipped_for_scope: skipped,
  });
}

function save() {
  // actions/cache: under the key computed before the job ran (dvc.lock may change since);
  // actions/cache/save: under its `key` input.
  const key = mode === "save" ? input("key") : process.env.STATE_key;
  const source = path.resolve(workspace, input("path"));
  if (mode === "" && process.env.STATE_matched === key) {
    console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
    record({ phase: "save", saved: false, reason: "exact hit" });
    return;
  }
  if (!fs.existsSync(source)) {
    console.log(`Path does not exist: ${source}, not saving cache.`);
    record({ phase: "save", saved: false, reason: "no files" });
    return;
  }
  fs.rmSync(entryDir(ref, key), { recursive: true, force: true });
  fs.cpSync(source, entryDir(ref, key), { recursive: true });
  console.log(`Cache saved with key: ${key} (scope ${ref})`);
  record({ phase: "save", saved: true });
}

if (!store) throw new Error("cache stand-in: ACT_CACHE_STORE is not set");
if (!ref) throw new Error("cache stand-in: GITHUB_REF is not set (act sets it from the event; caches are scoped by it)");
isPost ? save() : restore();
