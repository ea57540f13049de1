#!/usr/bin/env bash
# The main job on embedded defaults (`nftreg demo`): mint assets with Thai and English metadata
# (content in the embedded IPFS store, tokens on a managed anvil devnet whose state persists),
# register a 100,000-claim Merkle batch in one transaction, claim one leaf on-chain, verify
# 100,000 proofs and 10,000 signatures. Everything stays under $NFTREG_DATA_DIR (.nftreg/).
set -euo pipefail
cd "$(dirname "$0")/.."
export NFTREG_DATA_DIR="${NFTREG_DATA_DIR:-.nftreg}"
.venv/bin/nftreg demo "$@"
