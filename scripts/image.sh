#!/usr/bin/env bash
# Builds the OCI images of clouddb-operator and clouddb-sim from the release binaries, without a Docker engine, a
# base image or a registry (tools/image: go-containerregistry, built from the Go module proxy and cached), then
# checks them (scripts/check-image.py) and builds them a second time to prove the digests are reproducible.
#
#   scripts/image.sh [--out DIR] [--binaries PLATFORM=DIR]...
#
# --binaries: a directory holding clouddb-operator and clouddb-sim built for PLATFORM (os/arch, e.g. linux/arm64;
#   repeatable: one image per platform under one index). Default: linux/<this machine's arch>=
#   $CARGO_TARGET_DIR/release, i.e. the binaries of `cargo build --release --locked` (scripts/lint-image.sh builds
#   the operator's with the Dockerfile's exact command).
# --out: default $CARGO_TARGET_DIR/image. Writes <out>/clouddb-operator and <out>/clouddb-sim (OCI image layouts:
#   index.json -> an image index -> one image per platform; `crane push <out>/clouddb-operator REF` publishes one),
#   <out>/clouddb-operator.tar and <out>/clouddb-sim.tar (docker-style tarballs of the first platform: `docker load`,
#   `podman load`, `kind load image-archive`), and <out>/digests.txt.
#
# Each image: layer 1 = the base, shared by both images (glibc's loader and the shared libraries the binaries need,
# copied from this machine's Debian packages and checked against dpkg's md5sums, with their copyright files and
# dpkg status (for image scanners) and /etc/os-release; the CA bundle built from Debian's ca-certificates package;
# /etc/passwd and /etc/group with nonroot = 65532; /etc/nsswitch.conf; /tmp; /home/nonroot), layer 2 = the binary.
# No shell, no package manager, user 65532:65532. Foreign platforms need that platform's libc6 and libgcc-s1
# installed through dpkg multiarch (`dpkg --add-architecture arm64 && apt-get install libc6:arm64 libgcc-s1:arm64`).
#
# Environment: IMAGE_REPOSITORY (default ghcr.io/clouddb-operator: images are $IMAGE_REPOSITORY/<name>:<version>),
# SOURCE_DATE_EPOCH (default: the commit time of HEAD), VERSION (default: the workspace version = Chart appVersion).
set -euo pipefail
export LC_ALL=C # byte-wise sorting and globbing, whatever the machine's locale
CALLER=$(pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
OUT=$CARGO_TARGET_DIR/image
BINARIES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$(cd "$CALLER" && realpath -m "$2"); shift 2 ;;
    --binaries) BINARIES+=("${2%%=*}=$(cd "$CALLER" && realpath -m "${2#*=}")"); shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--binaries PLATFORM=DIR]..." >&2; exit 2 ;;
  esac
done
deb_arch() { # os/arch[/variant] -> Debian architecture
  case "$1" in
    linux/amd64) echo amd64 ;; linux/arm64*) echo arm64 ;; linux/arm/v7) echo armhf ;;
    linux/ppc64le) echo ppc64el ;; linux/s390x) echo s390x ;; linux/riscv64) echo riscv64 ;;
    *) echo "unsupported platform $1" >&2; return 1 ;;
  esac
}
if [ ${#BINARIES[@]} -eq 0 ]; then
  case "$(dpkg --print-architecture)" in
    amd64) HOST=linux/amd64 ;; arm64) HOST=linux/arm64 ;; armhf) HOST=linux/arm/v7 ;; ppc64el) HOST=linux/ppc64le ;;
    s390x) HOST=linux/s390x ;; riscv64) HOST=linux/riscv64 ;; *) echo "unknown architecture" >&2; exit 1 ;;
  esac
  BINARIES=("$HOST=$CARGO_TARGET_DIR/release")
fi
REGISTRY=${IMAGE_REPOSITORY:-ghcr.io/clouddb-operator}
VERSION=${VERSION:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
REVISION=$(git rev-parse HEAD)
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
SOURCE_URL=https://github.com/clouddb-operator/clouddb-operator
TOOLS=$(tools/image/build.sh)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- staging: one base directory per platform, one directory per binary --------------------------------------
md5sums_of() { # $1 = package (name[:arch]) -> its md5sums file
  local f
  for f in "/var/lib/dpkg/info/$1.md5sums" "/var/lib/dpkg/info/${1%%:*}.md5sums"; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  echo "no md5sums for package $1" >&2; return 1
}
copy_from_package() { # $1 = file on this machine, $2 = destination, $3 = mode; refuses files their package did not install
  local f=$1 owner pkg sum
  owner=$(dpkg -S "$f" 2>/dev/null | head -1) || { echo "$f belongs to no Debian package" >&2; return 1; }
  pkg=${owner%%: *}
  sum=$(awk -v p="${f#/}" '$2 == p {print $1}' "$(md5sums_of "$pkg")")
  if [ -z "$sum" ] || [ "$(md5sum < "$f" | cut -d' ' -f1)" != "$sum" ]; then
    echo "$f differs from what package $pkg installed (dpkg md5sums)" >&2; return 1
  fi
  install -D -m "$3" "$f" "$2"
  echo "$pkg" >> "$WORK/packages.$PLATFORM_ID"
}
find_lib() { # $1 = soname, $2 = multiarch triplet -> path on this machine
  local d
  for d in "/lib/$2" "/usr/lib/$2"; do [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }; done
  echo "shared library $1 ($2) not found on this machine" >&2; return 1
}
stage_base() { # $1 = platform, $2 = binaries dir, $3 = destination
  local platform=$1 bins=$2 base=$3 arch triplet interp todo seen lib path f pkg
  arch=$(deb_arch "$platform")
  triplet=$(dpkg-architecture -a "$arch" -qDEB_HOST_MULTIARCH 2>/dev/null) || case "$arch" in
    amd64) triplet=x86_64-linux-gnu ;; arm64) triplet=aarch64-linux-gnu ;; armhf) triplet=arm-linux-gnueabihf ;;
    ppc64el) triplet=powerpc64le-linux-gnu ;; s390x) triplet=s390x-linux-gnu ;; riscv64) triplet=riscv64-linux-gnu ;;
  esac
  PLATFORM_ID=${platform//\//-}
  : > "$WORK/packages.$PLATFORM_ID"
  mkdir -p "$base/etc/ssl/certs" "$base/tmp" "$base/home/nonroot" "$base/lib/$triplet"
  chmod 1777 "$base/tmp"; chmod 0700 "$base/home/nonroot"
  # The dynamic loader (the binaries' PT_INTERP) and every shared library they need, transitively.
  interp=$(readelf -l "$bins/clouddb-operator" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  [ -n "$interp" ] || { echo "$bins/clouddb-operator is not dynamically linked" >&2; return 1; }
  todo=$(for b in clouddb-operator clouddb-sim; do readelf -d "$bins/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done)
  todo="$todo $(basename "$interp")"
  seen=" "
  while [ -n "${todo// /}" ]; do
    set -- $todo; lib=$1; shift; todo="$*"
    case "$seen" in *" $lib "*) continue ;; esac
    seen="$seen$lib "
    path=$(find_lib "$lib" "$triplet")
    copy_from_package "$path" "$base/lib/$triplet/$lib" 0755
    todo="$todo $(readelf -d "$path" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  done
  if [ "$interp" != "/lib/$triplet/$(basename "$interp")" ]; then
    mkdir -p "$base$(dirname "$interp")"
    ln -s "$(realpath -m --relative-to="$(dirname "$interp")" "/lib/$triplet/$(basename "$interp")")" "$base$interp"
  fi
  # CA certificates: Debian's ca-certificates (Mozilla's bundle), concatenated in name order as
  # update-ca-certificates does, from the package's own files (not /etc/ssl/certs, where local CAs may be added).
  (cd / && grep ' usr/share/ca-certificates/mozilla/' "$(md5sums_of ca-certificates)" | md5sum --check --quiet) \
    || { echo "/usr/share/ca-certificates differs from the ca-certificates package" >&2; return 1; }
  local certs=(/usr/share/ca-certificates/mozilla/*.crt) # sorted byte-wise (LC_ALL=C)
  [ -f "${certs[0]}" ] || { echo "no CA certificates in /usr/share/ca-certificates/mozilla" >&2; return 1; }
  cat "${certs[@]}" > "$base/etc/ssl/certs/ca-certificates.crt"
  echo ca-certificates >> "$WORK/packages.$PLATFORM_ID"
  chmod 0644 "$base/etc/ssl/certs/ca-certificates.crt"
  # What scanners (trivy, grype, syft) read to find the packages: as distroless does, one dpkg status file per
  # package; their copyright files; the distribution.
  for pkg in $(sort -u "$WORK/packages.$PLATFORM_ID"); do
    mkdir -p "$base/var/lib/dpkg/status.d" "$base/usr/share/doc/${pkg%%:*}"
    dpkg-query -s "$pkg" > "$base/var/lib/dpkg/status.d/${pkg%%:*}"
    cp "$(realpath "/usr/share/doc/${pkg%%:*}/copyright")" "$base/usr/share/doc/${pkg%%:*}/copyright"
  done
  cp "$(realpath /etc/os-release)" "$base/etc/os-release"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "$base/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' > "$base/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' > "$base/etc/nsswitch.conf"
  find "$base" -type f -exec chmod go-w {} + ; find "$base" -type d ! -path "$base/tmp" -exec chmod go-w {} +
}

stage() { # $1 = staging directory; sets LAYERS_OP and LAYERS_SIM
  local spec platform bins id b
  LAYERS_OP=() LAYERS_SIM=()
  for spec in "${BINARIES[@]}"; do
    platform=${spec%%=*} bins=${spec#*=}
    id=${platform//\//-}
    for b in clouddb-operator clouddb-sim; do
      [ -x "$bins/$b" ] || { echo "$bins/$b is missing: cargo build --release --locked --bin $b -p $b" >&2; exit 1; }
      install -D -m 0755 "$bins/$b" "$1/$id/$b/$b"
    done
    stage_base "$platform" "$bins" "$1/$id/base"
    LAYERS_OP+=(--layer "$platform=$1/$id/base" --layer "$platform=$1/$id/clouddb-operator")
    LAYERS_SIM+=(--layer "$platform=$1/$id/base" --layer "$platform=$1/$id/clouddb-sim")
  done
}

# --- the images ------------------------------------------------------------------------------------------------
COMMON=(--user 65532:65532 --owner home/nonroot=65532:65532
  --label "org.opencontainers.image.version=$VERSION" --label "org.opencontainers.image.revision=$REVISION"
  --label "org.opencontainers.image.created=$CREATED" --label "org.opencontainers.image.source=$SOURCE_URL"
  --label "org.opencontainers.image.url=$SOURCE_URL" --label "org.opencontainers.image.licenses=Apache-2.0"
  --label "org.opencontainers.image.vendor=clouddb-operator")
build() { # $1 = output dir
  mkdir -p "$1"
  "$TOOLS/clouddb-image" build --layout "$1/clouddb-operator" --tarball "$1/clouddb-operator.tar" \
    --tag "$REGISTRY/clouddb-operator:$VERSION" "${LAYERS_OP[@]}" "${COMMON[@]}" \
    --entrypoint /clouddb-operator --entrypoint run --expose 8080/tcp \
    --label org.opencontainers.image.title=clouddb-operator \
    --label "org.opencontainers.image.description=Kubernetes operator for managed-database clouds (TiDB Cloud, ClickHouse Cloud)" \
    | sed 's/^/clouddb-operator /'
  "$TOOLS/clouddb-image" build --layout "$1/clouddb-sim" --tarball "$1/clouddb-sim.tar" \
    --tag "$REGISTRY/clouddb-sim:$VERSION" "${LAYERS_SIM[@]}" "${COMMON[@]}" \
    --entrypoint /clouddb-sim --env CLOUDDB_SIM_LISTEN=0.0.0.0:8443 \
    --env CLOUDDB_SIM_CLICKHOUSE_LISTEN=0.0.0.0:2023 --expose 8443/tcp --expose 2023/tcp \
    --label org.opencontainers.image.title=clouddb-sim \
    --label "org.opencontainers.image.description=Local simulator of the TiDB Cloud and ClickHouse Cloud management APIs, for tests, demos and offline CI" \
    | sed 's/^/clouddb-sim /'
}
stage "$WORK/stage1"
build "$WORK/out" > "$WORK/out.digests"
mkdir -p "$OUT"
for f in clouddb-operator clouddb-sim clouddb-operator.tar clouddb-sim.tar; do # only what this script writes
  rm -rf "${OUT:?}/$f"; mv "$WORK/out/$f" "$OUT/$f"
done
mv "$WORK/out.digests" "$OUT/digests.txt"
cat "$OUT/digests.txt"

# --- checks: config, layers, rootfs, the binary run from the rootfs; then a second staging and build, same digests
python3 scripts/check-image.py --self-test "$OUT/clouddb-operator"
for spec in "${BINARIES[@]}"; do
  platform=${spec%%=*} bins=${spec#*=}
  python3 scripts/check-image.py "$OUT/clouddb-operator" --platform "$platform" --epoch "$SOURCE_DATE_EPOCH" \
    --tarball "$OUT/clouddb-operator.tar" --tag "$REGISTRY/clouddb-operator:$VERSION" \
    --binary "$bins/clouddb-operator" --entrypoint '["/clouddb-operator","run"]' --version "$VERSION"
  python3 scripts/check-image.py "$OUT/clouddb-sim" --platform "$platform" --epoch "$SOURCE_DATE_EPOCH" \
    --tarball "$OUT/clouddb-sim.tar" --tag "$REGISTRY/clouddb-sim:$VERSION" \
    --binary "$bins/clouddb-sim" --entrypoint '["/clouddb-sim"]' --version "$VERSION"
done
stage "$WORK/stage2" # staged afresh: the whole path from the binaries to the digests is what must repeat
build "$WORK/again" > "$WORK/again.digests"
if ! diff -u "$OUT/digests.txt" "$WORK/again.digests" >&2; then
  echo "a second build from the same inputs gave different digests: the image build is not reproducible" >&2
  exit 1
fi
echo "images OK and reproducible: $OUT (digests.txt)"
