// Checking a registration log receipt in the browser, trusting nothing the server says but the
// log's verifier key (which the person can replace with one obtained elsewhere):
//  - the checkpoint is a C2SP signed-note whose Ed25519 signature by that key verifies
//    (WebCrypto Ed25519; if this browser has none, the signature is reported as NOT checked);
//  - the RFC 6962 / RFC 9162 inclusion proof (SHA-256, leaf = H(0x00‖entry),
//    node = H(0x01‖left‖right)) places the leaf at its index under the checkpoint's root;
//  - the entry bytes hash to the leaf, and (when asked) name the expected content hash and owner.
// The same checks as python/nftreg/log/verify.py (verify_receipt) and rust_core/tlog/src/note.rs.

const utf8 = new TextEncoder();

export class ReceiptError extends Error {
  constructor(code, params = {}) {
    super(code);
    this.code = code; // an i18n key suffix: receipt.err.<code>
    this.params = params;
  }
}

function fail(code, params) {
  throw new ReceiptError(code, params);
}

function hexBytes(v, field) {
  if (typeof v !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(v)) fail("hex", { field });
  const out = new Uint8Array((v.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(v.substr(2 + 2 * i, 2), 16);
  return out;
}

function b64Bytes(s) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4) return null;
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toHex(b) {
  return "0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function sha256(...parts) {
  const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

const ZERO = Uint8Array.of(0);
const ONE = Uint8Array.of(1);

export function leafHash(entry) {
  return sha256(ZERO, entry);
}

/** RFC 9162 §2.1.3.2: the root that `proof` gives for `leaf` at `index` in a tree of `size`. */
export async function rootFromInclusion(leaf, index, size, proof) {
  if (!(index < size)) fail("index", { index, size });
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) fail("prooflength");
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(ONE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(ONE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) fail("prooflength");
  return r;
}

async function keyId(name, pk) {
  const d = await sha256(utf8.encode(name), Uint8Array.of(0x0a, 0x01), pk);
  return d.slice(0, 4);
}

/** `<name>+<8 hex key id>+base64(0x01 ‖ 32-byte Ed25519 key)`, checked like Go's note.NewVerifier. */
export async function parseVerifierKey(s) {
  const m = typeof s === "string" ? /^([^+]*)\+([^+]*)\+(.*)$/s.exec(s.trim()) : null; // splitn(3, "+"): base64 has "+"
  const parts = m ? m.slice(1) : [];
  if (parts.length !== 3 || !parts[0] || /\s/.test(parts[0]) || !/^[0-9a-f]{8}$/i.test(parts[1])) fail("key");
  const kd = b64Bytes(parts[2]);
  if (!kd || kd.length !== 33 || kd[0] !== 0x01) fail("key");
  const pk = kd.slice(1);
  const id = await keyId(parts[0], pk);
  if (toHex(id).slice(2) !== parts[1].toLowerCase()) fail("keyid");
  return { name: parts[0], id, pk };
}

/** The Ed25519 verifying key, or null when this browser's WebCrypto has no Ed25519. */
async function importEd25519(pk) {
  try {
    return await crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    if (e && e.name === "NotSupportedError") return null;
    return fail("key");
  }
}

/** Open a signed note: { text, signature: "valid" | "unchecked" }, or a ReceiptError. */
export async function openNote(note, key) {
  if (typeof note !== "string" || /[\x00-\x09\x0b-\x1f]/.test(note)) fail("note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("note");
  const text = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  if (!sigs || !sigs.endsWith("\n")) fail("note");
  const mine = []; // every signature line by this key must verify (as rust_core/tlog/src/note.rs)
  for (const line of sigs.slice(0, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) fail("note");
    const blob = b64Bytes(m[2]);
    if (!blob || blob.length < 5) fail("note");
    if (m[1] === key.name && equal(blob.slice(0, 4), key.id)) {
      if (blob.length !== 68) fail("signature");
      mine.push(blob.slice(4));
    }
  }
  if (!mine.length) fail("nosig", { key: key.name });
  const pub = await importEd25519(key.pk);
  if (!pub) return { text, signature: "unchecked" };
  for (const sig of mine) {
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, pub, sig, utf8.encode(text)))) fail("signature");
  }
  return { text, signature: "valid" };
}

/** C2SP tlog-checkpoint text: origin, decimal size, base64 root, optional extension lines. */
export function parseCheckpoint(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || !lines[0] || !/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("checkpoint");
  const size = Number(lines[1]);
  const root = b64Bytes(lines[2]);
  if (!Number.isSafeInteger(size) || !root || root.length !== 32) fail("checkpoint");
  return { origin: lines[0], size, root };
}

/**
 * Verify `receipt` (JSON of GET …/receipt) against `verifierKey`. Resolves to
 * { ok, signature: "valid"|"unchecked", origin, size, index, error? } — `ok` is true only when
 * every check passed, the signature included. `expect` may name { content_hash, owner }.
 */
export async function verifyReceipt(receipt, verifierKey, expect = {}) {
  const out = { ok: false, signature: null, origin: null, size: null, index: null, error: null };
  try {
    if (!receipt || typeof receipt !== "object" || Array.isArray(receipt)) fail("json");
    const key = await parseVerifierKey(verifierKey);
    const note = await openNote(receipt.checkpoint, key);
    out.signature = note.signature;
    const cp = parseCheckpoint(note.text);
    Object.assign(out, { origin: cp.origin, size: cp.size });
    const index = receipt.index;
    if (!Number.isSafeInteger(index) || index < 0) fail("field", { field: "index" });
    out.index = index;
    if (receipt.tree_size !== undefined && receipt.tree_size !== cp.size) fail("treesize");
    if (!Array.isArray(receipt.proof)) fail("field", { field: "proof" });
    const proof = receipt.proof.map((p, i) => hexBytes(p, `proof[${i}]`));
    if (proof.some((p) => p.length !== 32)) fail("field", { field: "proof" });
    const leaf = hexBytes(receipt.leaf_hash, "leaf_hash");
    if (leaf.length !== 32) fail("field", { field: "leaf_hash" });
    if (receipt.entry !== undefined && receipt.entry !== null) {
      const entry = hexBytes(receipt.entry, "entry");
      if (!equal(await leafHash(entry), leaf)) fail("entry");
      // entry format v1 (python/nftreg/log/entry.py): owner at 63..83, content hash at 83..115
      if (entry.length < 165) fail("field", { field: "entry" });
      if (expect.content_hash && toHex(entry.slice(83, 115)) !== expect.content_hash.toLowerCase()) fail("otherhash");
      if (expect.owner && toHex(entry.slice(63, 83)) !== expect.owner.toLowerCase()) fail("otherowner");
    } else if (expect.content_hash) {
      fail("field", { field: "entry" });
    }
    const root = await rootFromInclusion(leaf, index, cp.size, proof);
    if (!equal(root, cp.root)) fail("root", { index, size: cp.size });
    out.ok = out.signature === "valid";
  } catch (e) {
    out.error = e instanceof ReceiptError ? e : new ReceiptError("internal", { detail: String(e && e.message || e) });
  }
  return out;
}
