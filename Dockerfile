# sutra-storage image for one variant, built by scripts/build-image.sh:
#   scripts/build-image.sh x86-64-v3        -> sutra-storage:0.1.0-x86-64-v3 (linux/amd64)
#   scripts/build-image.sh graviton3        -> sutra-storage:0.1.0-graviton3 (linux/arm64/v8)
# The script compiles static binaries on the host (no builder image, no registry; arm64
# cross-compiled) into target/variants/bin/<arch>-<variant>/, which is the build context;
# this file only assembles the image for the platform given to `docker build --platform`.
FROM scratch

# The COPYs come first: Docker 20.10's legacy builder commits every step before the first
# COPY of a FROM scratch image (ARG and LABEL too) for the host's platform, and the COPY
# then refuses a foreign-platform (arm64 on amd64) build.
COPY sutra-storage /sutra-storage
# Holds a node's network namespace and published ports for the local agent's Docker backend
# (the role of a Kubernetes Pod's pause container); not used on Kubernetes. The label
# ai.sutra.grid.pause tells tests that the image has it.
COPY sutra-pause /sutra-pause
# An empty directory owned by the image user: a named volume mounted here copies this
# ownership on first use, so the non-root server can write its data.
COPY --chown=65532:65532 data /data

ARG VARIANT=universal
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sutra-storage" \
      org.opencontainers.image.description="sutra-storage vector storage server, ${VARIANT} build" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/sutra-ai/sutra-grid" \
      ai.sutra.grid.variant="${VARIANT}" \
      ai.sutra.grid.pause="/sutra-pause"

USER 65532:65532
VOLUME /data
EXPOSE 50051 9090
ENTRYPOINT ["/sutra-storage"]
CMD ["serve", "--data", "/data"]
