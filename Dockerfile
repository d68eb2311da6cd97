# syntax=docker/dockerfile:1
# The operator image for those with a Docker engine: the same release binary CI builds (scripts/lint-image.sh runs
# the identical cargo command), on a distroless base with no shell, as a non-root user. Releases do not use this
# file: scripts/image.sh assembles the published image from the release binary without Docker (docs/release.md),
# with the same user, entrypoint, labels, CA certificates (Debian's ca-certificates) and glibc (the build machine's
# Debian packages: Debian 12 in CI and in .github/workflows/release.yml, as here).
#
# Base: gcr.io/distroless/cc-debian12, not distroless/static: the binary links glibc dynamically (target
# x86_64-unknown-linux-gnu; a static glibc would need NSS at run time for DNS, and the musl target is not part of the
# builder image). The builder is Debian bookworm like the base, so the glibc versions match.
#   docker build -t clouddb-operator \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u -d @"$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ)" .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore): cargo needs every member's manifest and sources to resolve it.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin clouddb-operator \
    && install -D -m 0755 target/release/clouddb-operator /out/clouddb-operator

FROM gcr.io/distroless/cc-debian12:nonroot
# The labels scripts/image.sh sets (VERSION = the workspace version = the chart's appVersion).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="clouddb-operator" \
      org.opencontainers.image.description="Kubernetes operator for managed-database clouds (TiDB Cloud, ClickHouse Cloud)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/clouddb-operator/clouddb-operator" \
      org.opencontainers.image.url="https://github.com/clouddb-operator/clouddb-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="clouddb-operator"
COPY --from=build /out/clouddb-operator /clouddb-operator
# nonroot of the distroless image (numeric, so runAsNonRoot can verify it)
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/clouddb-operator", "run"]
