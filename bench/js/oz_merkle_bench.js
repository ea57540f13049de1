// Times the npm @openzeppelin/merkle-tree on the values in a JSON file (argv[2]):
// build, getProof for the first K values, verify them. Prints JSON with seconds.
'use strict';
const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const { values, encoding, k } = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const now = () => Number(process.hrtime.bigint()) / 1e9;
let t0 = now();
const tree = StandardMerkleTree.of(values, encoding);
const build = now() - t0;
t0 = now();
const proofs = [];
for (let i = 0; i < k; i++) proofs.push(tree.getProof(i));
const prove = now() - t0;
t0 = now();
let ok = 0;
for (let i = 0; i < k; i++) ok += StandardMerkleTree.verify(tree.root, encoding, values[i], proofs[i]) ? 1 : 0;
const verify = now() - t0;
process.stdout.write(JSON.stringify({ root: tree.root, build, prove, verify, k, ok }));
