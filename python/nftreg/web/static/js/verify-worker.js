// Verifies a JSON-lines file of proofs or signatures off the page's thread: the file is read
// as a stream, cut into lines, and sent to /v1/verify/* in batches (two requests in flight at
// most, so memory stays bounded). Each line keeps its number; malformed lines are flagged
// without stopping the rest.

const BATCH = 10000;
const IN_FLIGHT = 2;

let cancelled = false;

self.addEventListener("message", (event) => {
  const msg = event.data;
  if (msg.type === "cancel") cancelled = true;
  if (msg.type === "start") {
    cancelled = false;
    run(msg.file, msg.batch || BATCH).catch((e) => self.postMessage({ type: "error", status: e.status || 0, problem: e.problem || { detail: String(e.message || e) } }));
  }
});

class HttpError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function post(path, body) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body, credentials: "omit" });
    if (r.ok) return r.json();
    let problem = {};
    try {
      problem = await r.json();
    } catch {
      problem = {};
    }
    if ((r.status === 429 || r.status === 503) && attempt < 5) {
      const wait = Number(r.headers.get("Retry-After")) || 1;
      await new Promise((ok) => setTimeout(ok, Math.min(wait, 30) * 1000));
      continue;
    }
    throw new HttpError(r.status, problem);
  }
}

async function run(file, batchSize) {
  const t0 = performance.now();
  const results = []; // {line, valid, error?}
  const pending = new Set();
  let batch = null; // {kind, key, root, enc, lines: [], items: []}
  let bytesRead = 0;
  let done = 0;
  let failure = null;

  const progress = () => self.postMessage({ type: "progress", done, bytesRead, total: file.size });

  function send(b) {
    let path, body;
    if (b.kind === "proofs") {
      path = "/v1/verify/proofs";
      body = `{"root":${JSON.stringify(b.root)},"leaf_encoding":${JSON.stringify(b.enc)},"items":[${b.items.join(",")}]}`;
    } else {
      path = "/v1/verify/signatures";
      body = `{"items":[${b.items.join(",")}]}`;
    }
    const p = post(path, body)
      .then((answer) => {
        b.lines.forEach((line, i) => {
          const r = answer.results[i];
          const valid = typeof r === "boolean" ? r : Boolean(r && r.valid);
          const entry = { line, valid };
          if (r && typeof r === "object" && r.error) entry.error = String(r.error);
          results.push(entry);
        });
      })
      .catch((e) => {
        if (!(e instanceof HttpError) || e.status === 401 || e.status >= 500) {
          failure ??= e;
          return;
        }
        const error = String(e.problem.detail || `HTTP ${e.status}`);
        for (const line of b.lines) results.push({ line, valid: false, error });
      })
      .finally(() => {
        done += b.lines.length;
        pending.delete(p);
        progress();
      });
    pending.add(p);
  }

  async function flush() {
    if (!batch || batch.lines.length === 0) return;
    const b = batch;
    batch = null;
    while (pending.size >= IN_FLIGHT) await Promise.race(pending);
    send(b);
  }

  async function take(line, text) {
    let obj;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      results.push({ line, valid: false, error: `malformed line: ${e.message}` });
      done++;
      return;
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      results.push({ line, valid: false, error: "malformed line: not a JSON object" });
      done++;
      return;
    }
    let kind, key, root, enc;
    if ("proof" in obj) {
      kind = "proofs";
      root = obj.root;
      enc = obj.leaf_encoding ?? obj.leafEncoding ?? ["address", "bytes32", "string"];
      if (typeof root !== "string") {
        results.push({ line, valid: false, error: "malformed line: root missing" });
        done++;
        return;
      }
      key = `${root}|${JSON.stringify(enc)}`;
    } else {
      kind = "signatures";
      key = "signatures";
    }
    if (batch && (batch.key !== key || batch.lines.length >= batchSize)) await flush();
    batch ??= { kind, key, root, enc, lines: [], items: [] };
    batch.lines.push(line);
    batch.items.push(text);
  }

  const reader = file.stream().getReader();
  const decoder = new TextDecoder("utf-8");
  let rest = "";
  let lineNo = 0;
  for (;;) {
    if (cancelled) {
      self.postMessage({ type: "cancelled" });
      return;
    }
    if (failure) throw failure;
    const { value, done: eof } = await reader.read();
    if (eof) break;
    bytesRead += value.length;
    const parts = (rest + decoder.decode(value, { stream: true })).split("\n");
    rest = parts.pop();
    for (const part of parts) {
      lineNo++;
      if (part.trim()) await take(lineNo, part);
    }
    progress();
  }
  rest += decoder.decode();
  if (rest.trim()) await take(++lineNo, rest);
  await flush();
  await Promise.all(pending);
  if (failure) throw failure;
  results.sort((a, b) => a.line - b.line);
  const invalid = results.filter((r) => !r.valid);
  const jsonl = new Blob(results.map((r) => JSON.stringify(r) + "\n"), { type: "application/x-ndjson" });
  self.postMessage({
    type: "done",
    count: results.length,
    valid: results.length - invalid.length,
    invalid: invalid.slice(0, 1000),
    invalidCount: invalid.length,
    seconds: (performance.now() - t0) / 1000,
    download: jsonl,
  });
}
