# Two commands a user needs: `make test` and `make demo`. Both bootstrap uv when missing.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: test demo sync uv lint

uv:
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet uv
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || { echo "uv could not be installed: run 'python3 -m pip install uv'"; exit 1; }

sync: uv
	@$$(command -v uv || echo "$(UV)") sync --frozen --quiet --compile-bytecode

test: sync
	@$$(command -v uv || echo "$(UV)") run --frozen pytest

demo: sync
	@$$(command -v uv || echo "$(UV)") run --frozen mtmc eval --config configs/demo.yaml
