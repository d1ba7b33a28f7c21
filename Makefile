# sutra-grid developer targets. Every target works on a fresh clone.
CARGO ?= cargo
PYTHON ?= python3

.PHONY: test test-rust test-manifests lint fmt crds bench deps-python

## test: every test of the workspace (Rust unit, integration, e2e) and the manifest checks.
test: test-rust test-manifests

test-rust:
	$(CARGO) test --workspace --all-targets --no-fail-fast

deps-python:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt

## test-manifests: the generated CRDs validate against the Kubernetes API schemas.
test-manifests: deps-python
	$(PYTHON) scripts/validate_manifests.py crds/*.yaml

## lint: formatting and clippy with warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## crds: regenerate crds/*.yaml from the Rust types.
crds:
	$(CARGO) run --quiet -p sutra-grid -- crds --output-dir crds

## bench: the benchmarks recorded in docs/PERFORMANCE.md.
bench:
	$(CARGO) bench -p sutra-storage
