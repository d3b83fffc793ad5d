# Convenience targets; each is one documented command.
PY ?= python3

.PHONY: install demo test bench bench-smoke reports

install:
	$(PY) -m pip install torch==2.13.0 -e ".[test]"

demo:
	taskgroup demo --quick

test:
	$(PY) -m pytest -q

bench:
	$(PY) -m benchmarks

bench-smoke:
	$(PY) -m benchmarks --smoke

reports:
	$(PY) scripts/make_reports.py
