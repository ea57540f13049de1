// Compiles contracts/*.sol with the pinned solc from node_modules and OpenZeppelin Contracts,
// writing ABI + bytecode to python/nftreg/contracts/<Name>.json (shipped in the package).
// `node scripts/compile_contracts.js --check` exits 1 when the shipped artifacts are stale.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'contracts');
const OUT = path.join(ROOT, 'python', 'nftreg', 'contracts');
const EVM_VERSION = 'cancun'; // supported by both py-evm (eth-tester) and anvil

function findImports(p) {
  const candidates = [path.join(ROOT, 'node_modules', p), path.join(SRC, p)];
  for (const c of candidates) if (fs.existsSync(c)) return { contents: fs.readFileSync(c, 'utf8') };
  return { error: `not found: ${p}` };
}

const sources = {};
for (const f of fs.readdirSync(SRC).filter(f => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(SRC, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter(e => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(2);
}
const pkg = require(path.join(ROOT, 'node_modules/@openzeppelin/contracts/package.json'));
let stale = false;
fs.mkdirSync(OUT, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!sources[file] || file.replace('.sol', '') !== name) continue;
    const artifact = {
      contractName: name,
      compiler: { solc: solc.version(), evmVersion: EVM_VERSION, optimizerRuns: 200, openzeppelin: pkg.version },
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 1) + '\n';
    const dest = path.join(OUT, `${name}.json`);
    const old = fs.existsSync(dest) ? fs.readFileSync(dest, 'utf8') : '';
    if (process.argv.includes('--check')) {
      if (old !== text) {
        console.error(`stale artifact: ${dest}`);
        stale = true;
      }
    } else {
      fs.writeFileSync(dest, text);
      console.log(`wrote ${path.relative(ROOT, dest)} (${c.evm.deployedBytecode.object.length / 2} bytes deployed)`);
    }
  }
}
process.exit(stale ? 1 : 0);
