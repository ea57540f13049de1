#!/usr/bin/env bash
# Idempotent set-up for a fresh machine. `scripts/setup.sh` installs what the main job
# needs (Python venv with the Rust extension built in release mode); `scripts/setup.sh --test`
# adds what the test suite needs (npm reference tools, a Kubo binary, PostgreSQL, Chromium
# with Thai fonts for the web app's browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1
log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip "maturin>=1.9,<2"
EXTRAS=()
[ "$WITH_TEST" = 1 ] && EXTRAS=(--extras test)
log "building the Rust extension (release) and installing Python dependencies ${EXTRAS[*]:-}"
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release -q "${EXTRAS[@]}"
.venv/bin/python -c "import nftreg" >/dev/null

log "installing pinned npm tools (anvil for the local chain; merkle-tree, solc, OpenZeppelin for tests)"
# `npm ci` refuses this lock file (npm 11 omits the other platforms' optional anvil packages
# from it); `npm install` with exact pins in package.json and the lock file is equivalent.
npm install --no-audit --no-fund --loglevel=error

if [ "$WITH_TEST" = 1 ]; then
  log "building/caching Kubo"
  bash scripts/install_kubo.sh >/dev/null
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=th family 2>/dev/null | grep -q .; then
    # the web app's browser tests drive Debian's Chromium (Playwright's own download cannot
    # work offline) and need a Thai font to render Thai
    log "installing Chromium and Thai fonts (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium fonts-thai-tlwg >/dev/null
  fi
  log "fetching the Go modules of the log cross-check (golang.org/x/mod sumdb/tlog, sumdb/note)"
  ( cd tests/go/tlogcheck && go mod download )
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
fi
log "ready"
