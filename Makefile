# Convenience targets; each is one command from the README. `test` and `demo` run the set-up
# first when .venv is missing or stale (scripts/install.sh --if-stale: a stamp of the pins), so
# either works as the first command on a fresh clone.
PY := .venv/bin/python
SETUP := bash scripts/install.sh --if-stale

.PHONY: install test demo demo-semseg env study-data study study-small
install:
	bash scripts/install.sh
test:
	$(SETUP)
	$(PY) -m pytest -q tests
demo:
	$(SETUP)
	$(PY) -m tools.demo
demo-semseg:
	$(SETUP)
	$(PY) -m tools.demo.semseg
env:
	$(SETUP)
	$(PY) -m decon_d2.env
study-data:
	$(SETUP)
	$(PY) -m pip install -q --no-deps -r requirements-study.txt
	$(PY) -m tools.build_data study
study: study-data
	$(PY) -m tools.study
study-small: study-data
	$(PY) -m tools.study --recipe r18
