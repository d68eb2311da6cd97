// clouddb-image assembles an OCI image from directories, without a Docker daemon, a base image or a registry:
// each --layer directory becomes one layer (a tar with entries in path order, mtime = the epoch, owner root unless
// --owner says otherwise, no user or group names, permissions as on disk), the config carries the user, entrypoint,
// environment, exposed ports and labels given, and every timestamp is the epoch (SOURCE_DATE_EPOCH): the same
// inputs give the same bytes and so the same digests.
//
// Multi-arch: --layer takes the platform (os/arch[/variant]) of the image the directory belongs to; one image is
// built per platform and the OCI layout's index.json names one image index (annotated with --tag) listing them.
// The optional docker-style tarball (--tarball, for `docker load`, `podman load`, `kind load image-archive`) holds
// the first platform's image, since that format has no index.
//
//	clouddb-image build --layout out/clouddb-operator --tag ghcr.io/x/clouddb-operator:0.1.0 \
//	  --layer linux/amd64=stage/base --layer linux/amd64=stage/operator \
//	  --user 65532:65532 --entrypoint /clouddb-operator --entrypoint run --label k=v ...
//
// Prints the index digest, then one line per platform: the platform and its manifest digest.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	layoutDir, tarballPath, tag, user, workdir string
	epoch                                      time.Time
	layers, entrypoint, cmd, env, labels       list
	expose, owners                             list
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "build" {
		fmt.Fprintln(os.Stderr, "usage: clouddb-image build [flags] (see -h)")
		os.Exit(2)
	}
	var o options
	fl := flag.NewFlagSet("build", flag.ExitOnError)
	fl.StringVar(&o.layoutDir, "layout", "", "OCI image layout directory to write (replaced)")
	fl.StringVar(&o.tarballPath, "tarball", "", "docker-style tarball of the first platform's image (optional)")
	fl.StringVar(&o.tag, "tag", "", "image reference, e.g. ghcr.io/org/name:1.2.3 (layout ref name, tarball tag)")
	fl.StringVar(&o.user, "user", "", "config User, e.g. 65532:65532")
	fl.StringVar(&o.workdir, "workdir", "/", "config WorkingDir")
	epoch := fl.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp of every file and of the config (seconds since 1970; default $SOURCE_DATE_EPOCH)")
	fl.Var(&o.layers, "layer", "PLATFORM=DIR: a layer of the image for PLATFORM (os/arch[/variant]), in order (repeatable)")
	fl.Var(&o.entrypoint, "entrypoint", "an element of the config Entrypoint (repeatable)")
	fl.Var(&o.cmd, "cmd", "an element of the config Cmd (repeatable)")
	fl.Var(&o.env, "env", "KEY=VALUE of the config Env (repeatable)")
	fl.Var(&o.labels, "label", "KEY=VALUE of the config Labels and of the index annotations (repeatable)")
	fl.Var(&o.expose, "expose", "PORT/PROTO of the config ExposedPorts (repeatable)")
	fl.Var(&o.owners, "owner", "PATH=UID:GID: owner of one entry (path inside the layer, e.g. home/nonroot); default 0:0")
	_ = fl.Parse(os.Args[2:])
	if fl.NArg() != 0 || o.layoutDir == "" || o.tag == "" || len(o.layers) == 0 || *epoch == "" {
		fmt.Fprintln(os.Stderr, "clouddb-image build: --layout, --tag, --layer and --epoch (or SOURCE_DATE_EPOCH) are required")
		os.Exit(2)
	}
	secs, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		fail(fmt.Errorf("epoch %q: %w", *epoch, err))
	}
	o.epoch = time.Unix(secs, 0).UTC()
	if err := build(o, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clouddb-image:", err)
	os.Exit(1)
}

func splitKV(s, what string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%s %q: want KEY=VALUE", what, s)
	}
	return k, v, nil
}

func build(o options, out io.Writer) error {
	ref, err := name.ParseReference(o.tag)
	if err != nil {
		return err
	}
	owners := map[string][2]int{}
	for _, s := range o.owners {
		p, ids, err := splitKV(s, "--owner")
		if err != nil {
			return err
		}
		u, g, ok := strings.Cut(ids, ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("--owner %q: want PATH=UID:GID", s)
		}
		owners[strings.Trim(p, "/")] = [2]int{uid, gid}
	}
	labels := map[string]string{}
	for _, s := range o.labels {
		k, v, err := splitKV(s, "--label")
		if err != nil {
			return err
		}
		labels[k] = v
	}
	ports := map[string]struct{}{}
	for _, p := range o.expose {
		ports[p] = struct{}{}
	}
	// Platforms in the order of their first --layer.
	var platforms []string
	dirs := map[string][]string{}
	for _, s := range o.layers {
		p, dir, err := splitKV(s, "--layer")
		if err != nil {
			return err
		}
		if _, seen := dirs[p]; !seen {
			platforms = append(platforms, p)
		}
		dirs[p] = append(dirs[p], dir)
	}

	created := v1.Time{Time: o.epoch}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var first v1.Image
	var lines []string
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return err
		}
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		for _, dir := range dirs[p] {
			data, err := tarDir(dir, o.epoch, owners)
			if err != nil {
				return err
			}
			layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(data)), nil
			}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
			if err != nil {
				return err
			}
			img, err = mutate.Append(img, mutate.Addendum{
				Layer:     layer,
				MediaType: types.OCILayer,
				History: v1.History{
					Created:   created,
					CreatedBy: "clouddb-image: " + filepath.Base(filepath.Clean(dir)),
				},
			})
			if err != nil {
				return err
			}
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cf = cf.DeepCopy()
		cf.Created = created
		cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = plat.OS, plat.Architecture, plat.Variant, plat.OSVersion
		cf.Config = v1.Config{
			User:         o.user,
			WorkingDir:   o.workdir,
			Entrypoint:   o.entrypoint,
			Cmd:          o.cmd,
			Env:          o.env,
			Labels:       labels,
			ExposedPorts: ports,
		}
		if len(ports) == 0 {
			cf.Config.ExposedPorts = nil
		}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			return err
		}
		if first == nil {
			first = img
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %s", plat, d))
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	if len(labels) > 0 {
		idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	}

	if err := os.RemoveAll(o.layoutDir); err != nil {
		return err
	}
	lp, err := layout.Write(o.layoutDir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.Identifier(),
		"io.containerd.image.name":          ref.Name(),
	})); err != nil {
		return err
	}
	if o.tarballPath != "" {
		tmp := o.tarballPath + ".tmp"
		if err := tarball.WriteToFile(tmp, ref, first); err != nil {
			return err
		}
		if err := os.Rename(tmp, o.tarballPath); err != nil {
			return err
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, d)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

// tarDir returns an uncompressed tar of dir's contents: directories, regular files and symlinks only, in path
// order (a directory right before its contents, names compared byte-wise), every entry with mtime = epoch,
// owner 0:0 (or the --owner given for its path), no user/group names, the permission bits on disk.
func tarDir(dir string, epoch time.Time, owners map[string][2]int) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir visits in lexical order within each directory; sort by path components to make the order explicit.
	sort.SliceStable(paths, func(i, j int) bool {
		a := strings.Split(filepath.ToSlash(paths[i]), "/")
		b := strings.Split(filepath.ToSlash(paths[j]), "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	for _, path := range paths {
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		h := &tar.Header{
			Name:    rel,
			Mode:    int64(fi.Mode().Perm()),
			ModTime: epoch,
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			h.Mode |= 01000
		}
		if ids, ok := owners[rel]; ok {
			h.Uid, h.Gid = ids[0], ids[1]
		}
		switch {
		case fi.Mode().IsDir():
			h.Typeflag, h.Name = tar.TypeDir, rel+"/"
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		case fi.Mode()&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(path); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: only directories, regular files and symlinks go into a layer", path)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			n, err := io.Copy(tw, f)
			f.Close()
			if err != nil {
				return nil, err
			}
			if n != h.Size {
				return nil, errors.New(path + ": changed while being archived")
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
