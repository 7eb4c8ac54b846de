# limpet: the two quick-start commands are `make demo` and `make test` (as root).
.PHONY: setup demo test lint unit bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo-bundle.sh bundle
	.venv/bin/limpet run --bundle bundle limpet-demo-$$$$

test: setup lint
	.venv/bin/python -m pytest -q tests

unit: setup
	.venv/bin/python -m pytest -q tests/unit

bench: setup
	.venv/bin/python bench/bench.py --rounds 20

lint: setup
	.venv/bin/ruff check core plugins tests examples
	.venv/bin/mypy core plugins examples/limpet-minimal-dev/limpet_minimal_dev

clean:
	rm -rf bundle build *.egg-info
