#!/usr/bin/env bash
# `make bench`: every benchmark under bench/, each side by side with its anchors, at small
# default sizes so the whole run takes minutes on two cores. The tables in bench/README.md were
# measured at the sizes each script documents; pass them yourself for those (e.g.
# `.venv/bin/python bench/bench_cid.py --size-mib 1024`). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run \`make setup\` first (no .venv)" >&2; exit 1; }
run() { echo; echo "== $*"; "$PY" "$@"; }
run bench/bench_merkle.py --quick
run bench/bench_signatures.py
run bench/bench_cid.py --size-mib "${NFTREG_BENCH_CID_MIB:-64}"
run bench/bench_gas.py
run bench/bench_api.py --mints "${NFTREG_BENCH_MINTS:-100}" --threads 8 --proofs 10000 --batch 10000
run bench/bench_install.py --claims 10000 --signatures 1000
for extra in bench/bench_*.py; do
  case "$extra" in
    bench/bench_merkle.py|bench/bench_signatures.py|bench/bench_cid.py|bench/bench_gas.py|bench/bench_api.py|bench/bench_install.py) ;;
    *) run "$extra" ;;  # benchmarks added later (e.g. bench_keccak.py) run at their own defaults
  esac
done
