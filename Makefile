.PHONY: help setup run test test-rust test-py bench lint stubtest
help:  ## list the tasks
	@grep -E "^[a-z-]+:.*##" Makefile | sed -E "s/:.*## / — /"
setup:  ## install the main job's dependencies and build the extension (release)
	bash scripts/setup.sh
run: setup  ## the main job on embedded defaults
	bash scripts/run.sh
test:  ## the whole test suite (installs npm tools, Kubo, PostgreSQL first)
	bash scripts/test.sh
test-rust:  ## cargo test only
	cargo test --workspace --exclude nftreg-py --release
test-py:  ## pytest only (assumes make setup has run)
	.venv/bin/python -m pytest
bench:  ## the benchmarks under bench/ (side by side with their anchors)
	bash bench/run_all.sh
lint:  ## clippy, ruff, mypy
	cargo clippy --workspace -- -D warnings && .venv/bin/ruff check python tests bench && .venv/bin/mypy python/nftreg
stubtest:  ## check _core.pyi against the compiled module
	.venv/bin/python -m mypy.stubtest nftreg._core
