# One entry point for set-up, the main job and the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup land test bench icd clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# PYTHONWARNINGS: setuptools' editable-install notice is for packaging authors, not users.
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

land: setup
	$(BIN)/hil land

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/hil bench

icd: setup
	$(BIN)/hil icd generate

clean:
	rm -rf $(VENV) runs build *.egg-info
