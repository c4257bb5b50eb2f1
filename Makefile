# wshub: `make run` to serve the chat page, `make test` to run every test.
CARGO ?= cargo
ARGS  ?=

.PHONY: run build test lint e2e conformance fuzz bench bench-smoke clean

run: ## build in release mode and serve the chat on http://127.0.0.1:8080/
	$(CARGO) run --release -- $(ARGS)

build:
	$(CARGO) build --release

test: ## unit, integration and doc tests (benches run with `make bench`); installs redis-server when missing
	bash tests/setup/redis.sh
	$(CARGO) test --lib --bins --tests
	$(CARGO) test --doc

lint: ## formatting and clippy, warnings are errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

e2e: ## the page in headless Chromium against the release binary (installs chromium and playwright-core)
	bash tests/e2e/run.sh

conformance: ## Autobahn TestSuite cases 1.*-10.* against echo mode (kosoku from PyPI, in a venv)
	bash tests/conformance/run.sh

fuzz: ## cargo fuzz on the request-head parser and the static path resolver (FUZZ_SECONDS each, default 30)
	bash fuzz/run.sh

bench: ## load generator against the release binary, a plain tungstenite server and a tokio-tungstenite one (built on first use), one line per scenario (about 10 minutes); installs redis-server when missing (the two-node scenario)
	bash tests/setup/redis.sh
	$(CARGO) bench --bench load

bench-smoke: ## a few seconds of the same without the tokio yardstick, failing on any loss, reordering or error; installs redis-server when missing
	bash tests/setup/redis.sh
	$(CARGO) bench --bench load -- --smoke

clean:
	$(CARGO) clean
