# Convenience targets; each is one command from the README.
PY := .venv/bin/python

.PHONY: install test demo demo-semseg env
install:
	bash scripts/install.sh
test:
	$(PY) -m pytest -q tests
demo:
	$(PY) -m decon_d2.demo
demo-semseg:
	$(PY) -m decon_d2.demo.semseg
env:
	$(PY) -m decon_d2.env
