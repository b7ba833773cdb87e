# TwakeAI — two commands on a fresh machine:
#   make demo   installs what is missing, builds, pulls the models, ingests
#               the sample workspace, answers a few questions and serves
#               the web UI and the API
#   make test   the whole test suite (lints, unit, integration, end to end)
SHELL := /bin/bash
.DEFAULT_GOAL := demo

# A cargo target directory outside the clone is reused when it exists
# (CI and shared machines); otherwise ./target.
CARGO_TARGET_DIR ?= $(shell if [ -d /var/cache/twake-ai/target ]; then echo /var/cache/twake-ai/target; else echo $(CURDIR)/target; fi)
export CARGO_TARGET_DIR
export OMP_WAIT_POLICY := PASSIVE
BIN := $(CARGO_TARGET_DIR)/release/twake-ai
DATA ?= ./data
ALICE := alice.martin@valmont.fr
BOB := bob.leroy@valmont.fr

.PHONY: deps build models demo ingest-demo test lint layering fuzz crash load bench bench-sources eval eval-answers eval-assistants clean-data

deps:
	@scripts/install-deps.sh

build: deps
	cargo build --release --locked

models: build
	$(BIN) models pull

ingest-demo: models
	$(BIN) --data-dir $(DATA) ingest --readers $(ALICE),$(BOB) examples/workspace/shared
	$(BIN) --data-dir $(DATA) ingest --readers $(BOB) --sensitivity confidential examples/workspace/private-bob

# The demo answers a few questions on the command line, then serves the web
# UI and the OpenAI-compatible and native APIs on 127.0.0.1:8080 with a key
# for Alice, the demo's administrator (Ctrl-C stops it).
LISTEN ?= 127.0.0.1:8080
demo: ingest-demo
	$(BIN) --data-dir $(DATA) search --as $(ALICE) "date de bascule Lyon"
	@echo; echo '$$ twake-ai ask --as $(ALICE) "Quand a lieu la bascule du datacenter de Lyon ?"'
	$(BIN) --data-dir $(DATA) ask --as $(ALICE) "Quand a lieu la bascule du datacenter de Lyon ?"
	@echo; echo '$$ twake-ai ask --as $(ALICE) "When will the network switches be delivered?"'
	$(BIN) --data-dir $(DATA) ask --as $(ALICE) "When will the network switches be delivered?"
	@echo; echo '$$ twake-ai ask --as $(ALICE) "Quelle augmentation de salaire pour Bob ?"   (private to Bob)'
	$(BIN) --data-dir $(DATA) ask --as $(ALICE) "Quelle augmentation de salaire pour Bob ?"
	@echo; echo '$$ twake-ai access report --as $(ALICE)   (what Alice can reach, and through which rule)'
	$(BIN) --data-dir $(DATA) access report --as $(ALICE)
	@KEY=$$($(BIN) --data-dir $(DATA) keys create --user $(ALICE) --label demo 2>/dev/null) && \
	echo && echo "API key for $(ALICE): $$KEY" && \
	echo "Web UI: open http://$(LISTEN)/ and sign in with that key." && \
	echo "Try:  curl -s http://$(LISTEN)/v1/chat/completions -H \"Authorization: Bearer $$KEY\" \\" && \
	echo "        -d '{\"model\":\"twake-ai\",\"messages\":[{\"role\":\"user\",\"content\":\"Quand a lieu la bascule ?\"}]}'" && \
	echo "or point any OpenAI SDK at http://$(LISTEN)/v1 with that key." && echo
	TWAKE_AI__AUTH__ADMINS=$(ALICE) $(BIN) --data-dir $(DATA) serve --listen $(LISTEN)

lint: deps
	cargo fmt --all --check
	cargo clippy --release --locked --all-targets -- -D warnings

# Pure crates must not depend on tokio, on the index or on the models.
layering:
	@scripts/check-layering.sh

# Every prerequisite is set up: no test may skip.
test: models lint layering
	env -u TWAKE_AI_TEST_ALLOW_SKIP scripts/test.sh

# Every parser on mutated real files, far longer than the bounded run in
# `make test`; an input that makes one panic is kept in tests/fuzz-crashes/.
# Then the Matrix and JMAP connectors against servers answering mutated
# JSON (HOSTILE_ROUNDS syncs each; 40 in `make test`).
FUZZ_ROUNDS ?= 100000
HOSTILE_ROUNDS ?= 1500
fuzz: deps models
	TWAKE_AI_FUZZ_ROUNDS=$(FUZZ_ROUNDS) TWAKE_AI_FUZZ_LAST=$(CARGO_TARGET_DIR)/fuzz-last-input cargo test --release --locked -p twake-extract --test fuzz -- --nocapture
	TWAKE_AI_TEST_MODELS=1 TWAKE_AI_FUZZ_ROUNDS=$(HOSTILE_ROUNDS) cargo test --release --locked -p twake-core --test hostile_servers -- --nocapture

# `twake-ai ingest` killed with SIGKILL at random points CRASH_KILLS times
# (3 in `make test`), then run to its end: compared with an uninterrupted
# run, and `twake-ai check` must find store and indexes in step. Then an
# IMAP sync from Dovecot killed the same way.
CRASH_KILLS ?= 25
crash: models
	TWAKE_AI_TEST_MODELS=1 TWAKE_AI_CRASH_KILLS=$(CRASH_KILLS) cargo test --release --locked -p twake-ai --test crash ingestion -- --nocapture
	scripts/install-deps.sh --test
	TWAKE_AI_TEST_MODELS=1 TWAKE_AI_CRASH_KILLS=$(CRASH_KILLS) cargo test --release --locked -p twake-ai --test imap -- --nocapture

# 64 then 256 concurrent clients on search, ask and the OpenAI API for
# LOAD_SECONDS each against a `serve` child (`make test` runs 12 clients
# for 10 s): only 200s and fast 429/503 with Retry-After, memory held.
LOAD_SECONDS ?= 60
load: models
	$(BIN) load --clients 64,256 --seconds $(LOAD_SECONDS)

bench: models
	$(BIN) bench --output docs/BENCHMARKS.md

# Connected sources against a Dovecot started for it: backfill throughput
# and the delay from new mail to search; rewrites only the `sources` rows.
bench-sources: models
	scripts/bench-sources.sh $(BIN)

clean-data:
	rm -rf $(DATA)

# Quality on the evaluation sets (not tests: an answer takes seconds, minutes
# and summaries a minute or two each on 2 cores); see docs/QUALITY.md.
eval: eval-answers eval-assistants

# Grounded answers: facts held, false "nothing found", unsupported
# sentences, citation precision, time to first token (about 10 minutes).
eval-answers: models
	$(BIN) eval answers

eval-assistants: models
	$(BIN) eval assistants
