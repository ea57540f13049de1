// Runs the web app's own ES modules (python/nftreg/web/static/js) under node for the tests:
// one JSON request per stdin line, one JSON answer per stdout line.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const base = new URL("../../python/nftreg/web/static/js/", import.meta.url);
const { cidOf, contentHash } = await import(new URL("cid.js", base));
const { checksumAddress, keccak256 } = await import(new URL("keccak.js", base));
const { qrMatrix } = await import(new URL("qr.js", base));

const hex = (b) => Buffer.from(b).toString("hex");

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  let out;
  try {
    if (req.op === "cid") {
      const data = new Uint8Array(readFileSync(req.path));
      out = { cid: await cidOf(data, req.profile), content_hash: await contentHash(data) };
    } else if (req.op === "checksum") {
      out = { address: checksumAddress(req.address) };
    } else if (req.op === "keccak") {
      out = { hash: hex(keccak256(Buffer.from(req.hex, "hex"))) };
    } else if (req.op === "qr") {
      out = { rows: qrMatrix(req.text).map((r) => r.map((d) => (d ? "1" : "0")).join("")) };
    } else {
      out = { error: `unknown op ${req.op}` };
    }
  } catch (e) {
    out = { error: String(e.message || e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
