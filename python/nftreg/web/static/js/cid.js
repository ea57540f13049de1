// UnixFS CIDs identical to Kubo's `ipfs add` (the balanced layout over a fixed-size chunker),
// the same algorithm as rust_core/cid: SHA-256 comes from WebCrypto, the file is read one
// chunk at a time (File.slice), so it never leaves the computer.

export const PROFILES = {
  "unixfs-v1-2025": { cidVersion: 1, rawLeaves: true, chunkSize: 1 << 20, maxLinks: 1024 },
  "unixfs-v0-2015": { cidVersion: 0, rawLeaves: false, chunkSize: 256 << 10, maxLinks: 174 },
};
export const DEFAULT_PROFILE = "unixfs-v1-2025";

const DAG_PB = 0x70;
const RAW = 0x55;

function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function concat(parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function bytesField(tag, bytes) {
  return [Uint8Array.of(tag, ...varint(bytes.length)), bytes];
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function cidBytes(cid) {
  const mh = Uint8Array.of(0x12, 0x20, ...cid.digest);
  return cid.version === 0 ? mh : concat([Uint8Array.of(1, ...varint(cid.codec)), mh]);
}

const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base32(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function base58(bytes) {
  const digits = [0];
  for (const b of bytes) {
    let carry = b;
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i] << 8;
      digits[i] = carry % 58;
      carry = Math.floor(carry / 58);
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = Math.floor(carry / 58);
    }
  }
  let out = "";
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) out += "1";
  for (let i = digits.length - 1; i >= 0; i--) out += B58[digits[i]];
  return out;
}

export function cidToString(cid) {
  const b = cidBytes(cid);
  return cid.version === 0 ? base58(b) : "b" + base32(b);
}

function unixfsFile(data, filesize, blocksizes) {
  const parts = [Uint8Array.of(0x08, 0x02)];
  if (data) parts.push(...bytesField(0x12, data));
  parts.push(Uint8Array.of(0x18, ...varint(filesize)));
  for (const s of blocksizes) parts.push(Uint8Array.of(0x20, ...varint(s)));
  return concat(parts);
}

// PBNode as Kubo writes it: links first, each with Hash, an empty Name and Tsize, then Data.
function pbNode(links, data) {
  const parts = [];
  for (const l of links) {
    const link = concat([...bytesField(0x0a, cidBytes(l.cid)), Uint8Array.of(0x12, 0x00, 0x18, ...varint(l.tsize))]);
    parts.push(...bytesField(0x12, link));
  }
  parts.push(...bytesField(0x0a, data));
  return concat(parts);
}

async function blockNode(version, codec, block, filesize, tsize) {
  return { cid: { version, codec, digest: await sha256(block) }, tsize, filesize };
}

/**
 * The CID of `size` bytes read by `readChunk(offset, length)` (async, returns a Uint8Array),
 * laid out as Kubo's balanced importer does under `profile` (a name or a profile object).
 */
export async function cidOfReader(readChunk, size, profile = DEFAULT_PROFILE) {
  const p = typeof profile === "string" ? PROFILES[profile] : profile;
  if (!p || !(p.chunkSize > 0) || !(p.maxLinks >= 2)) throw new Error(`unknown or invalid CID profile ${profile}`);
  const leafCount = Math.ceil(size / p.chunkSize);
  let next = 0;
  const done = () => next >= leafCount;

  async function leaf() {
    const off = next * p.chunkSize;
    next += 1;
    const chunk = await readChunk(off, Math.min(p.chunkSize, size - off));
    if (p.rawLeaves) return blockNode(1, RAW, chunk, chunk.length, chunk.length);
    const block = pbNode([], unixfsFile(chunk, chunk.length, []));
    return blockNode(p.cidVersion, DAG_PB, block, chunk.length, block.length);
  }

  async function internal(children) {
    const sizes = children.map((c) => c.filesize);
    const filesize = sizes.reduce((a, b) => a + b, 0);
    const block = pbNode(children, unixfsFile(null, filesize, sizes));
    const tsize = children.reduce((a, c) => a + c.tsize, block.length);
    return blockNode(p.cidVersion, DAG_PB, block, filesize, tsize);
  }

  async function fill(children, depth) {
    while (children.length < p.maxLinks && !done()) {
      children.push(depth === 1 ? await leaf() : await fill([], depth - 1));
    }
    return internal(children);
  }

  let root;
  if (leafCount === 0) {
    root = p.rawLeaves
      ? await blockNode(1, RAW, new Uint8Array(0), 0, 0)
      : await blockNode(p.cidVersion, DAG_PB, pbNode([], unixfsFile(null, 0, [])), 0, 0);
  } else {
    root = await leaf();
    for (let depth = 1; !done(); depth++) root = await fill([root], depth);
  }
  return cidToString(root.cid);
}

/** CID of a Blob/File (read chunk by chunk) or of a Uint8Array. */
export function cidOf(data, profile = DEFAULT_PROFILE) {
  if (data instanceof Uint8Array) {
    return cidOfReader(async (off, len) => data.subarray(off, off + len), data.length, profile);
  }
  return cidOfReader(async (off, len) => new Uint8Array(await data.slice(off, off + len).arrayBuffer()), data.size, profile);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "0x" + SHA-256 of the whole content: the hash the registry records on-chain. */
export async function contentHash(data) {
  const buf = data instanceof Uint8Array ? data : await data.arrayBuffer();
  return "0x" + hex(await sha256(buf));
}
