# One entry point for set-up, the main job and the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

FUZZ_SECONDS ?= 20

.PHONY: setup land test fuzz-smoke bench icd clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# PYTHONWARNINGS: setuptools' editable-install notice is for packaging authors, not users.
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

land: setup
	$(BIN)/hil land

# The fuzz smoke run comes first so that pytest's summary is the last line of the output.
# Tests that fly against the wall clock (marked realtime) run alone, after the others have run
# on two cores (pytest-xdist, a test file per worker): a loaded machine would make them late.
test: setup
	$(MAKE) --no-print-directory fuzz-smoke
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not realtime"
	$(BIN)/python -m pytest -m realtime

# A short libFuzzer run of the firmware's Modbus parser (needs clang with libFuzzer).
fuzz-smoke:
	@if command -v clang >/dev/null 2>&1; then firmware/fuzz/run.sh $(FUZZ_SECONDS); \
	else echo "fuzz-smoke: clang not installed, skipped (CI installs it)"; fi

bench: setup
	$(BIN)/hil bench

icd: setup
	$(BIN)/hil icd generate

clean:
	rm -rf $(VENV) runs build *.egg-info
