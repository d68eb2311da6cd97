# syntax=docker/dockerfile:1
# The operator image: the same release binary CI builds (scripts/lint-image.sh runs the identical cargo command),
# on a distroless base with no shell, as a non-root user.
#
# Base: gcr.io/distroless/cc-debian12, not distroless/static: the binary links glibc dynamically (target
# x86_64-unknown-linux-gnu; a static glibc would need NSS at run time for DNS, and the musl target is not part of the
# builder image). The builder is Debian bookworm like the base, so the glibc versions match.
#   docker build -t clouddb-operator .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore): cargo needs every member's manifest and sources to resolve it.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin clouddb-operator \
    && install -D -m 0755 target/release/clouddb-operator /out/clouddb-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/clouddb-operator /clouddb-operator
# nonroot of the distroless image (numeric, so runAsNonRoot can verify it)
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/clouddb-operator", "run"]
