# sutra-grid developer targets. Every target works on a fresh clone.
CARGO ?= cargo
# Every Python step runs in the project's own virtualenv, created on first use from
# scripts/requirements.txt; nothing is installed into the system's Python. Its bin/ comes
# first on PATH for every recipe, so tests that call `python3` or `grpcurl` get the venv's.
VENV := .venv
PYTHON := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: test test-rust test-manifests test-chart test-readme chart-files lint fmt crds bench deps-python e2e-image

## test: every test of the workspace (Rust unit, integration, e2e) and the manifest checks.
test: test-rust test-manifests test-chart test-readme test-workflows

test-rust: deps-python e2e-image
	$(CARGO) test --workspace --all-targets --no-fail-fast

## e2e-image: the image ghcr.io/sutra-ai/sutra-storage:<version>-universal the Docker backend tests run,
## built once here (scripts/build-image.sh: static release binaries from scripts/build-variant.sh
## under target/variants/, the image FROM scratch for this host's platform); the tests only
## rebuild it when it is older than its binaries. Skipped without a Docker engine. It stays
## in the engine: `docker image rm ghcr.io/sutra-ai/sutra-storage:0.1.0-universal` removes it.
e2e-image: deps-python
	@if docker info >/dev/null 2>&1; then \
		PYTHON=$(PYTHON) scripts/build-image.sh universal; \
	else \
		echo "e2e-image skipped: no Docker engine"; \
	fi

## deps-python: the project venv (.venv/) with scripts/requirements.txt; redone when that file changes.
deps-python: $(VENV)/.installed

$(VENV)/.installed: scripts/requirements.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
	touch $@

## test-manifests: the generated CRDs validate against the Kubernetes API schemas.
test-manifests: deps-python
	$(PYTHON) scripts/validate_manifests.py crds/*.yaml

## test-chart: render, lint and validate the Helm chart with Helm's Go SDK; check config/samples.
test-chart: deps-python
	$(PYTHON) -m pytest -q -p no:cacheprovider charts/tests

## test-readme: README's main command, then its grpcurl lines verbatim, with checks.
test-readme: deps-python
	$(PYTHON) scripts/readme_grpcurl.py

## lint: formatting and clippy with warnings as errors, actionlint over the workflows.
lint: lint-workflows
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## crds: regenerate crds/*.yaml from the Rust types.
crds:
	$(CARGO) run --quiet -p sutra-grid -- crds --output-dir crds
	$(MAKE) chart-files

## chart-files: the chart renders copies of crds/ and config/variants.yaml (Helm reads no
## file outside the chart); a chart test fails while they differ.
chart-files:
	rm -f charts/sutra-grid/files/crds/*.yaml
	cp crds/*.yaml charts/sutra-grid/files/crds/
	cp config/variants.yaml charts/sutra-grid/files/variants.yaml

## bench: the benchmarks recorded in docs/PERFORMANCE.md.
bench:
	$(CARGO) bench -p sutra-storage

## fuzz: every fuzz target of fuzz/ for FUZZ_SECONDS each (default 300), one after another,
## on the stable toolchain (docs/FUZZING.md); new corpus entries go to fuzz/corpus/, crashes
## to fuzz/artifacts/. fuzz-smoke: the same for 60 s each, as CI runs it.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := wal_replay manifest segment_meta payloads proto_vector values_le
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := cd fuzz && $(CARGO) fuzz
.PHONY: fuzz fuzz-smoke fuzz-build deps-fuzz

fuzz: fuzz-build
	for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target && \
		( $(CARGO_FUZZ) run --sanitizer none $$target corpus/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ) \
		|| exit 1; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=60

fuzz-build: deps-fuzz
	$(CARGO_FUZZ) build --sanitizer none

## deps-fuzz: cargo-fuzz $(CARGO_FUZZ_VERSION) from crates.io, when it is not installed yet.
deps-fuzz:
	$(CARGO) fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' \
		|| $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked

## --- arm64 and the start-up guard (issue 18): cross builds with Debian's toolchain, qemu ---
.PHONY: deps-aarch64 deps-images test-aarch64 test-guard image images image-index test-images
## deps-aarch64: the aarch64 cross toolchain and qemu-user-static (idempotent; needs root).
deps-aarch64:
	scripts/deps-aarch64.sh

## test-aarch64: sutra-api, sutra-core and sutra-storage suites, built once for aarch64, under qemu per CPU;
## on AARCH64_SIMD_CPUS only the SIMD property tests and the detect check.
AARCH64_CPUS ?= neoverse-n1 neoverse-v1 cortex-a76
AARCH64_SIMD_CPUS ?= neoverse-n2 a64fx
test-aarch64: deps-aarch64 deps-python
	AARCH64_SIMD_CPUS="$(AARCH64_SIMD_CPUS)" scripts/test-aarch64.sh $(AARCH64_CPUS)

## test-guard: each variant's start-up guard on emulated CPUs (GUARD_VARIANTS: default all).
test-guard: deps-aarch64 deps-python
	PYTHON=$(PYTHON) scripts/test-guard.sh $(GUARD_VARIANTS)

## image VARIANT=<name> [ARCH=amd64|arm64]: one storage image; images: the whole catalog.
image: deps-python
	PYTHON=$(PYTHON) scripts/build-image.sh $(if $(ARCH),--arch $(ARCH)) $(VARIANT)

images: deps-aarch64 deps-python
	PYTHON=$(PYTHON) scripts/build-image.sh --all

## deps-images: skopeo and the distribution registry, for test-images (idempotent; needs root).
deps-images:
	scripts/deps-images.sh

## test-images: every local storage image's platform and binary; the universal index pushed
## to a registry on loopback and pulled back per platform.
test-images: deps-images deps-aarch64 deps-python
	PYTHON=$(PYTHON) scripts/test-images.sh

## image-index: universal for amd64 and arm64 as one OCI image index (an oci-archive file).
image-index: deps-aarch64 deps-python
	PYTHON=$(PYTHON) scripts/build-image.sh --arch amd64 universal
	PYTHON=$(PYTHON) scripts/build-image.sh --arch arm64 universal
	$(PYTHON) scripts/image_index.py universal

## --- CI and releases: .github/workflows call these; each also runs on a developer's machine.
.PHONY: lint-workflows test-workflows release-matrix chart-check e2e-kind

## lint-workflows: actionlint over .github/workflows/*.yml (the binary comes from PyPI).
lint-workflows: deps-python
	actionlint -no-color

## test-workflows: the workflows keep their promises; the release matrix matches config/variants.yaml.
test-workflows: deps-python
	$(PYTHON) -m pytest -q -p no:cacheprovider scripts/tests

## release-matrix: the per-variant build matrix as JSON (also to $$GITHUB_OUTPUT when set).
release-matrix: deps-python
	@$(PYTHON) scripts/variant_matrix.py $(if $(GITHUB_OUTPUT),--github-output)

## chart-check: helm lint and template with a helm binary, rendered objects schema-validated.
chart-check: deps-python
	scripts/chart-check.sh

## e2e-kind: the chart and the sample grid on a kind cluster, then e2e/'s cluster test.
e2e-kind: deps-python
	scripts/e2e-kind.sh
