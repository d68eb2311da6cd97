#!/usr/bin/env python3
"""Checks an OCI image layout written by tools/image (scripts/image.sh), with nothing but Python's standard library
(independent of the Go code that wrote it):

  check-image.py LAYOUT --platform linux/amd64 --epoch N --binary PATH --entrypoint JSON --version V
                 [--tarball FILE --tag REF]
  check-image.py --self-test LAYOUT     # the checks catch a root user, a shell, a missing label, a wrong timestamp
  check-image.py --dockerfile Dockerfile LAYOUT   # the Dockerfile's final stage sets the same user, entrypoint,
                                                  # exposed ports and labels (revision/created are build args)

- every blob's digest and size match its descriptor; index.json -> one OCI image index (ref name annotated) -> one
  manifest for the platform, whose config says that platform;
- config: user 65532:65532, the entrypoint, the org.opencontainers.image.* labels (version, created = the epoch, ...),
  created = the epoch, rootfs.diff_ids = the layers' uncompressed digests, one history entry per layer;
- layers: gzip tars whose entries come in path order, all with mtime = the epoch, owner 0:0 (65532 for
  /home/nonroot), directories/regular files/symlinks only, no absolute or '..' paths;
- the root filesystem: no shell or other program: the only executables are the entrypoint's binary (byte-identical
  to --binary) and the shared objects of lib/<triplet>/; /etc/passwd has nonroot 65532; a CA bundle;
- run: the rootfs is extracted into a temporary directory and, on a machine of the same architecture, the binary
  runs with the image's own dynamic loader and libraries (`<rootfs>/<PT_INTERP> --inhibit-cache --library-path
  <rootfs>/lib/<triplet> <rootfs>/<binary> --version`), after `--list` showed every library resolves inside the
  rootfs;
- the docker-style tarball (if given) holds the same config and layers, tagged --tag.
"""
import argparse, gzip, hashlib, io, json, os, platform as pyplatform, shutil, subprocess, sys, tarfile, tempfile

SHELLS = {"sh", "bash", "dash", "ash", "busybox", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "toybox"}
LABELS = ["title", "description", "version", "revision", "created", "source", "url", "licenses", "vendor"]
NONROOT = 65532


def blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        return f.read()


def checked(layout, desc, problems):
    data = blob(layout, desc["digest"])
    if "sha256:" + hashlib.sha256(data).hexdigest() != desc["digest"] or len(data) != desc["size"]:
        problems.append(f"blob {desc['digest']}: digest or size does not match its descriptor")
    return data


def path_key(name):
    return name.rstrip("/").split("/")


def load(layout, plat, problems):
    """-> (manifest, config, [(layer descriptor, tar bytes)]) of the image for plat."""
    with open(os.path.join(layout, "oci-layout")) as f:
        if json.load(f).get("imageLayoutVersion") != "1.0.0":
            problems.append("oci-layout: imageLayoutVersion is not 1.0.0")
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    if len(top["manifests"]) != 1 or top["manifests"][0]["mediaType"] != "application/vnd.oci.image.index.v1+json":
        problems.append("index.json must name exactly one OCI image index")
    if not top["manifests"][0].get("annotations", {}).get("org.opencontainers.image.ref.name"):
        problems.append("index.json: no org.opencontainers.image.ref.name annotation")
    index = json.loads(checked(layout, top["manifests"][0], problems))
    want_os, want_arch, *rest = plat.split("/")
    matches = [m for m in index["manifests"]
               if m.get("platform", {}).get("os") == want_os and m["platform"].get("architecture") == want_arch
               and m["platform"].get("variant", "") == (rest[0] if rest else "")]
    if len(matches) != 1:
        raise SystemExit(f"{layout}: the index has {len(matches)} manifests for {plat}")
    manifest = json.loads(checked(layout, matches[0], problems))
    if manifest.get("mediaType") != "application/vnd.oci.image.manifest.v1+json":
        problems.append("the manifest is not an OCI image manifest")
    config = json.loads(checked(layout, manifest["config"], problems))
    if (config.get("os"), config.get("architecture"), config.get("variant", "")) != (
            want_os, want_arch, rest[0] if rest else ""):
        problems.append(f"config platform {config.get('os')}/{config.get('architecture')} is not {plat}")
    layers = []
    for d in manifest["layers"]:
        if d["mediaType"] != "application/vnd.oci.image.layer.v1.tar+gzip":
            problems.append(f"layer {d['digest']}: media type {d['mediaType']}")
        layers.append((d, gzip.decompress(checked(layout, d, problems))))
    return index, manifest, config, layers


def check(args, problems):
    index, manifest, config, layers = load(args.layout, args.platform, problems)
    epoch = int(args.epoch)
    created = __import__("datetime").datetime.fromtimestamp(epoch, __import__("datetime").timezone.utc)
    created = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg = config.get("config", {})
    if cfg.get("User") != f"{NONROOT}:{NONROOT}":
        problems.append(f"config User is {cfg.get('User')!r}, not {NONROOT}:{NONROOT}")
    entrypoint = json.loads(args.entrypoint)
    if cfg.get("Entrypoint") != entrypoint:
        problems.append(f"config Entrypoint is {cfg.get('Entrypoint')}, not {entrypoint}")
    labels = cfg.get("Labels") or {}
    for k in LABELS:
        if not labels.get("org.opencontainers.image." + k):
            problems.append(f"label org.opencontainers.image.{k} missing")
    if labels.get("org.opencontainers.image.version") != args.version:
        problems.append(f"label version is {labels.get('org.opencontainers.image.version')!r}, not {args.version!r}")
    if labels.get("org.opencontainers.image.created") != created:
        problems.append(f"label created is {labels.get('org.opencontainers.image.created')!r}, not {created}")
    if config.get("created") != created:
        problems.append(f"config created is {config.get('created')!r}, not {created} (SOURCE_DATE_EPOCH)")
    if index.get("annotations", {}) != labels:
        problems.append("the index annotations are not the labels")
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for _, t in layers]
    if config.get("rootfs", {}).get("diff_ids") != diff_ids:
        problems.append("config rootfs.diff_ids are not the layers' uncompressed digests")
    if len(config.get("history", [])) != len(layers):
        problems.append("config history: not one entry per layer")

    rootfs = {}  # path -> (TarInfo, data)
    for desc, data in layers:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            names = [m.name for m in members]
            if names != sorted(names, key=path_key):
                problems.append(f"layer {desc['digest']}: entries are not in path order")
            for m in members:
                where = f"layer {desc['digest'][:19]}: {m.name}"
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    problems.append(f"{where}: unsafe path")
                if m.mtime != epoch:
                    problems.append(f"{where}: mtime {m.mtime}, not the epoch {epoch}")
                want_owner = (NONROOT, NONROOT) if m.name.rstrip("/") == "home/nonroot" else (0, 0)
                if (m.uid, m.gid) != want_owner or m.uname or m.gname:
                    problems.append(f"{where}: owner {m.uid}:{m.gid} {m.uname}/{m.gname}, not {want_owner}")
                if not (m.isdir() or m.isfile() or m.issym()):
                    problems.append(f"{where}: not a directory, regular file or symlink")
                rootfs[m.name.rstrip("/")] = (m, tf.extractfile(m).read() if m.isfile() else None)

    binary = entrypoint[0].lstrip("/")
    if binary not in rootfs or not rootfs[binary][0].isfile():
        problems.append(f"/{binary} is not in the image")
    else:
        with open(args.binary, "rb") as f:
            if rootfs[binary][1] != f.read():
                problems.append(f"/{binary} is not byte-identical to {args.binary}")
    for name, (m, data) in sorted(rootfs.items()):
        base = name.split("/")[-1]
        if base in SHELLS:
            problems.append(f"/{name}: a shell in the image")
        if m.isfile() and m.mode & 0o111 and name != binary:
            parts = name.split("/")
            if not (len(parts) == 3 and parts[0] == "lib" and ".so" in parts[2] and data[:4] == b"\x7fELF"):
                problems.append(f"/{name}: an executable other than the binary and lib/<triplet>/*.so*")
        if m.isfile() and m.mode & 0o022:
            problems.append(f"/{name}: group- or world-writable")
    passwd = (rootfs.get("etc/passwd") or (None, b""))[1] or b""
    if f"nonroot:x:{NONROOT}:{NONROOT}:".encode() not in passwd:
        problems.append(f"/etc/passwd has no nonroot user {NONROOT}")
    cas = (rootfs.get("etc/ssl/certs/ca-certificates.crt") or (None, b""))[1] or b""
    if cas.count(b"-----BEGIN CERTIFICATE-----") < 100:
        problems.append("/etc/ssl/certs/ca-certificates.crt: fewer than 100 CA certificates")
    if rootfs.get("tmp", (None,))[0] is None or rootfs["tmp"][0].mode & 0o7777 != 0o1777:
        problems.append("/tmp missing or not mode 1777")

    if args.tarball:
        check_tarball(args, manifest, config, layers, problems)
    if not problems:
        run(args, layers, binary, problems)


def check_tarball(args, manifest, config, layers, problems):
    with tarfile.open(args.tarball) as tf:
        (entry,) = json.load(tf.extractfile("manifest.json"))
        if entry.get("RepoTags") != [args.tag]:
            problems.append(f"{args.tarball}: RepoTags {entry.get('RepoTags')}, not [{args.tag}]")
        cfg = tf.extractfile(entry["Config"]).read()
        if hashlib.sha256(cfg).digest() != bytes.fromhex(manifest["config"]["digest"].split(":")[1]):
            problems.append(f"{args.tarball}: not the layout's config")
        for name, (_, data) in zip(entry["Layers"], layers):
            raw = tf.extractfile(name).read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            if raw != data:
                problems.append(f"{args.tarball}: layer {name} is not the layout's")


def run(args, layers, binary, problems):
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(pyplatform.machine(), pyplatform.machine())
    if args.platform.split("/")[1] != machine:
        print(f"not run: {args.platform} image on a {machine} machine", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "rootfs")
        os.mkdir(root)
        for _, data in layers:
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                tf.extractall(root, filter="tar")
        exe = os.path.join(root, binary)
        interp = subprocess.run(["readelf", "-l", exe], check=True, capture_output=True, text=True).stdout
        interp = interp.split("Requesting program interpreter: ")[1].split("]")[0]
        loader = os.path.join(root, interp.lstrip("/"))
        libdir = [os.path.join(root, "lib", d) for d in os.listdir(os.path.join(root, "lib"))
                  if os.path.isdir(os.path.join(root, "lib", d))]
        base = [loader, "--inhibit-cache", "--library-path", ":".join(libdir)]
        listed = subprocess.run(base + ["--list", exe], capture_output=True, text=True)
        for line in listed.stdout.splitlines():
            if "=>" in line and "vdso" not in line:
                target = line.split("=>")[1].strip().split(" (")[0]
                if not os.path.realpath(target).startswith(os.path.realpath(root) + "/"):
                    problems.append(f"{line.strip()}: resolved outside the image's rootfs")
        if listed.returncode != 0 or "not found" in listed.stdout:
            problems.append(f"the image's loader cannot resolve the libraries: {listed.stdout}{listed.stderr}")
        out = subprocess.run(base + [exe, "--version"], capture_output=True, text=True)
        name = os.path.basename(binary)
        if out.returncode != 0 or out.stdout.strip() != f"{name} {args.version}":
            problems.append(f"/{binary} --version from the rootfs: exit {out.returncode}, {out.stdout!r} {out.stderr!r}")
        else:
            print(f"ran from the image's rootfs: {' '.join(['<rootfs>' + interp, '...', '<rootfs>/' + binary])}"
                  f" --version -> {out.stdout.strip()}")


# --- self-test: rewrite a copy of the layout with one defect at a time; each must be reported -------------------
def put(layout, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", d.split(":")[1])
    if os.path.exists(path):  # a hard link to the original layout's blob: never write through it
        os.remove(path)
    with open(path, "wb") as f:
        f.write(data)
    return d, len(data)


def mutated(src, dst, edit_config=None, extra_layer=None):
    """A copy of the layout src (blobs hard-linked, never written through) with its config edited and/or a layer
    added; the manifest, index and index.json are rewritten with the new digests."""
    shutil.copytree(src, dst, copy_function=os.link)
    with open(os.path.join(dst, "index.json")) as f:
        top = json.load(f)
    index = json.loads(blob(dst, top["manifests"][0]["digest"]))
    mdesc = index["manifests"][0]
    manifest = json.loads(blob(dst, mdesc["digest"]))
    config = json.loads(blob(dst, manifest["config"]["digest"]))
    if extra_layer:
        raw = extra_layer()
        gz = gzip.compress(raw, mtime=0)
        d, n = put(dst, gz)
        manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
        config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
        config["history"].append({"created": config["created"], "created_by": "self-test"})
    if edit_config:
        edit_config(config)
    manifest["config"]["digest"], manifest["config"]["size"] = put(dst, json.dumps(config).encode())
    mdesc["digest"], mdesc["size"] = put(dst, json.dumps(manifest).encode())
    top["manifests"][0]["digest"], top["manifests"][0]["size"] = put(dst, json.dumps(index).encode())
    os.remove(os.path.join(dst, "index.json"))  # a hard link too
    with open(os.path.join(dst, "index.json"), "w") as f:
        json.dump(top, f)
    return config


def shell_layer(mtime):
    def make():
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for name, typ in [("bin", tarfile.DIRTYPE), ("bin/sh", tarfile.REGTYPE)]:
                ti = tarfile.TarInfo(name)
                ti.type, ti.mtime, ti.mode = typ, mtime, 0o755
                tf.addfile(ti, io.BytesIO(b"") if typ == tarfile.REGTYPE else None)
        return buf.getvalue()
    return make


def self_test(layout):
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    index = json.loads(blob(layout, top["manifests"][0]["digest"]))
    plat = index["manifests"][0]["platform"]
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    labels = config["config"]["Labels"]
    epoch = int(__import__("datetime").datetime.strptime(config["created"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=__import__("datetime").timezone.utc).timestamp())
    entry = config["config"]["Entrypoint"]
    cases = {
        "root user": (dict(edit_config=lambda c: c["config"].update(User="0:0")), "config User"),
        "no user": (dict(edit_config=lambda c: c["config"].pop("User")), "config User"),
        "a shell": (dict(extra_layer=shell_layer(epoch)), "bin/sh: a shell"),
        "a label missing": (dict(edit_config=lambda c: c["config"]["Labels"].pop(
            "org.opencontainers.image.revision")), "org.opencontainers.image.revision missing"),
        "another entrypoint": (dict(edit_config=lambda c: c["config"].update(Entrypoint=["/bin/sh"])),
                               "config Entrypoint"),
        "a file not at the epoch": (dict(extra_layer=shell_layer(epoch + 1)), "not the epoch"),
    }
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "binary")
        with open(binary, "wb") as f:  # the image's own binary, so that only the defect differs
            _, _, _, layers = load(layout, f"{plat['os']}/{plat['architecture']}", [])
            for _, data in layers:
                with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                    if entry[0].lstrip("/") in tf.getnames():
                        f.write(tf.extractfile(entry[0].lstrip("/")).read())
        for i, (what, (edit, expect)) in enumerate(cases.items()):
            dst = os.path.join(tmp, f"case{i}")
            mutated(layout, dst, **edit)
            ns = argparse.Namespace(layout=dst, platform=f"{plat['os']}/{plat['architecture']}", epoch=epoch,
                                    binary=binary, entrypoint=json.dumps(entry), tarball=None, tag=None,
                                    version=labels["org.opencontainers.image.version"])
            problems = []
            check(ns, problems)
            if not any(expect in p for p in problems):
                failed.append(f"{what}: not reported (problems: {problems})")
    if failed:
        print("check-image self-test FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)
    print(f"check-image self-test: {len(cases)} defects, each reported")


def dockerfile(path, layout):
    """Problems where the Dockerfile's final stage differs from the image's config (first platform)."""
    import re, shlex
    lines, cur = [], ""
    for raw in open(path).read().splitlines():
        if raw.lstrip().startswith("#") and not cur:
            continue
        cur += raw.rstrip("\\").strip() + " " if raw.endswith("\\") else raw.strip()
        if not raw.endswith("\\"):
            if cur:
                lines.append(cur)
            cur = ""
    final = lines[max(i for i, l in enumerate(lines) if l.upper().startswith("FROM ")) + 1:]
    args, labels, user, entrypoint, ports = {}, {}, None, None, set()
    for l in final:
        instr, _, rest = l.partition(" ")
        instr = instr.upper()
        if instr == "ARG":
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif instr == "LABEL":
            for kv in shlex.split(rest):
                k, _, v = kv.partition("=")
                labels[k] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), v)
        elif instr == "USER":
            user = rest.strip()
        elif instr == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instr == "EXPOSE":
            ports |= {p if "/" in p else p + "/tcp" for p in rest.split()}
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    index = json.loads(blob(layout, top["manifests"][0]["digest"]))
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    cfg = json.loads(blob(layout, manifest["config"]["digest"]))["config"]
    problems = []
    if user != cfg.get("User"):
        problems.append(f"USER {user}, the image: {cfg.get('User')}")
    if entrypoint != cfg.get("Entrypoint"):
        problems.append(f"ENTRYPOINT {entrypoint}, the image: {cfg.get('Entrypoint')}")
    if ports != set(cfg.get("ExposedPorts") or {}):
        problems.append(f"EXPOSE {sorted(ports)}, the image: {sorted(cfg.get('ExposedPorts') or {})}")
    build_args = {"org.opencontainers.image.revision", "org.opencontainers.image.created"}
    want = {k: v for k, v in (cfg.get("Labels") or {}).items() if k not in build_args}
    have = {k: v for k, v in labels.items() if k not in build_args}
    for k in sorted(set(want) | set(have)):
        if want.get(k) != have.get(k):
            problems.append(f"LABEL {k}={have.get(k)!r}, the image: {want.get(k)!r}")
    for k in sorted(set(labels) ^ set(cfg.get("Labels") or {})):
        if k in build_args:
            problems.append(f"LABEL {k}: in only one of the Dockerfile and the image")
    return problems


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("layout")
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--dockerfile")
    p.add_argument("--platform")
    p.add_argument("--epoch")
    p.add_argument("--binary")
    p.add_argument("--entrypoint")
    p.add_argument("--version")
    p.add_argument("--tarball")
    p.add_argument("--tag")
    args = p.parse_args()
    if args.self_test:
        return self_test(args.layout)
    if args.dockerfile:
        problems = dockerfile(args.dockerfile, args.layout)
        if problems:
            print(f"{args.dockerfile} builds another image than {args.layout}:\n  " + "\n  ".join(problems),
                  file=sys.stderr)
            sys.exit(1)
        print(f"{args.dockerfile}: same user, entrypoint, ports and labels as {args.layout}")
        return
    problems = []
    check(args, problems)
    if problems:
        print(f"{args.layout}: the image fails its checks:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{args.layout} ({args.platform}): config, layers and rootfs OK")


if __name__ == "__main__":
    main()
