// Stand-in for actions/cache: restore (main) and save (post) under $ACT_CACHE_STORE/<key>/.
const fs = require("fs");
const path = require("path");

const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] || "").trim();
const store = process.env.ACT_CACHE_STORE;
const workspace = process.env.GITHUB_WORKSPACE;
const isPost = process.env.STATE_phase === "main";

function record(entry) {
  const file = path.join(process.env.ACT_RECORD_DIR, "calls.jsonl");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const inputs = { path: input("path"), key: input("key"), "restore-keys": input("restore-keys") };
  fs.appendFileSync(file, JSON.stringify({ uses: "actions/cache", inputs, ...entry }) + "\n");
}

function entryDir(key) {
  return path.join(store, encodeURIComponent(key));
}

function restore() {
  fs.appendFileSync(process.env.GITHUB_STATE, "phase=main\n");
  const key = input("key");
  const target = path.resolve(workspace, input("path"));
  let matched = fs.existsSync(entryDir(key)) ? key : "";
  if (!matched) {
    const prefixes = input("restore-keys").split("\n").map((s) => s.trim()).filter(Boolean);
    const entries = fs.existsSync(store) ? fs.readdirSync(store).map(decodeURIComponent) : [];
    for (const prefix of prefixes) {
      const candidates = entries
        .filter((k) => k.startsWith(prefix))
        .sort((a, b) => fs.statSync(entryDir(b)).mtimeMs - fs.statSync(entryDir(a)).mtimeMs);
      if (candidates.length) {
        matched = candidates[0];
        break;
      }
    }
  }
  if (matched) {
    fs.mkdirSync(target, { recursive: true });
    fs.cpSync(entryDir(matched), target, { recursive: true });
  }
  const hit = matched === key;
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `cache-hit=${hit}\n`);
  fs.appendFileSync(process.env.GITHUB_STATE, `matched=${matched}\nkey=${key}\n`);
  console.log(matched ? `Cache restored from key: ${matched}` : `Cache not found for input keys: ${key}`);
  record({ phase: "restore", matched, hit });
}

function save() {
  // Like the real action: save under the key computed before the job ran (dvc.lock may change since).
  const key = process.env.STATE_key;
  const source = path.resolve(workspace, input("path"));
  if (process.env.STATE_matched === key) {
    console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
    record({ phase: "save", saved: false, reason: "exact hit" });
    return;
  }
  if (!fs.existsSync(source)) {
    console.log(`Path does not exist: ${source}, not saving cache.`);
    record({ phase: "save", saved: false, reason: "no files" });
    return;
  }
  fs.rmSync(entryDir(key), { recursive: true, force: true });
  fs.cpSync(source, entryDir(key), { recursive: true });
  console.log(`Cache saved with key: ${key}`);
  record({ phase: "save", saved: true });
}

if (!store) throw new Error("cache stand-in: ACT_CACHE_STORE is not set");
isPost ? save() : restore();
