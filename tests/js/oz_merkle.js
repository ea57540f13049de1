// Reference driver for the npm @openzeppelin/merkle-tree library: reads a JSON array of
// requests on stdin and writes a JSON array of results. Used by the Python tests to compare
// nftreg against the real library, never reimplemented.
'use strict';
const { StandardMerkleTree, SimpleMerkleTree } = require('@openzeppelin/merkle-tree');

function run(req) {
  try {
    switch (req.op) {
      case 'build': {
        const t = StandardMerkleTree.of(req.values, req.encoding, { sortLeaves: req.sortLeaves ?? true });
        const out = { root: t.root, dump: req.noDump ? undefined : t.dump(), render: req.render ? t.render() : undefined };
        if (req.proofs) out.proofs = req.values.map((_, i) => t.getProof(i));
        // Large trees: only the proofs of these indices, and leafLookup of these values.
        if (req.proofIndices) out.proofsAt = req.proofIndices.map(i => t.getProof(i));
        if (req.lookups) out.lookups = req.lookups.map(v => t.leafLookup(v));
        if (req.multiproofs) out.multiproofs = req.multiproofs.map(idx => t.getMultiProof(idx));
        return out;
      }
      case 'buildSimple': {
        const t = SimpleMerkleTree.of(req.values, { sortLeaves: req.sortLeaves ?? true });
        const out = { root: t.root, dump: t.dump() };
        if (req.proofs) out.proofs = req.values.map((_, i) => t.getProof(i));
        if (req.multiproofs) out.multiproofs = req.multiproofs.map(idx => t.getMultiProof(idx));
        return out;
      }
      case 'load': {
        const t = req.dump.format === 'simple-v1' ? SimpleMerkleTree.load(req.dump) : StandardMerkleTree.load(req.dump);
        return { root: t.root, proofs: [...Array(t.length).keys()].map(i => t.getProof(i)) };
      }
      case 'verify':
        return { ok: StandardMerkleTree.verify(req.root, req.encoding, req.value, req.proof) };
      case 'verifyMultiProof':
        return { ok: StandardMerkleTree.verifyMultiProof(req.root, req.encoding, req.multiproof) };
      default:
        return { error: `unknown op ${req.op}` };
    }
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', c => (input += c));
process.stdin.on('end', () => {
  const reqs = JSON.parse(input);
  process.stdout.write(JSON.stringify(reqs.map(run)));
});
