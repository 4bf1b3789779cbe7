# Two commands a user needs: `make test` and `make demo`. Both install uv when it is missing.
SHELL := /bin/bash
# `python3 -m uv` works right after `pip install uv`, even before the uv binary is on PATH.
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: test demo sync uv

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	@$(UV) sync --frozen --quiet --compile-bytecode --extra train --extra ray

test: sync
	@$(UV) run --frozen pytest

# SynthCity three clips (vehicles from all three shared videos) is rendered once (about two
# minutes) and reused; then the whole system runs on it.
demo: sync
	@test -f runs/synthcity-three-clips/ground_truth.txt || $(UV) run --frozen mtmc simulate configs/synthcity-three-clips.yaml -o runs/synthcity-three-clips
	@$(UV) run --frozen mtmc run configs/demo.yaml
