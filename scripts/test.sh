#!/usr/bin/env bash
# The whole test suite: Rust (`cargo test`) and Python (`pytest`, which starts its own
# anvil, Kubo and PostgreSQL). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "== cargo test"
cargo test --workspace --exclude nftreg-py --release 2>&1 | tail -n 40
echo "== pytest"
.venv/bin/python -m pytest "$@"
