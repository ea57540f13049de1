#!/usr/bin/env bash
# The main job on embedded defaults: build a 100,000-claim Merkle batch from a claims file,
# write its standard-v1 dump and verify every proof. Everything stays under .nftreg/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${NFTREG_DATA_DIR:-.nftreg}"
mkdir -p "$DATA"
CLAIMS="${1:-$DATA/claims.csv}"
if [ ! -f "$CLAIMS" ]; then
  .venv/bin/nftreg batch sample -n 100000 -o "$CLAIMS"
fi
.venv/bin/nftreg batch build "$CLAIMS" -o "$DATA/tree.json" --verify
