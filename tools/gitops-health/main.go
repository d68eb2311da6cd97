// Command gitops-health prints, for Kubernetes objects given as JSON, the health that GitOps tools compute
// for them:
//
//   - kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, which Flux (kustomize-controller,
//     helm-controller) uses for health checks;
//   - argo: the Argo CD health of the Lua health script we ship (charts/clouddb-operator/files/argocd-health.lua),
//     run through github.com/yuin/gopher-lua the way Argo CD runs resource.customizations.health scripts:
//     only the base, table, package and a restricted os library are opened, the object is the global `obj`
//     (JSON decoded to Lua tables, arrays 1-based), the script returns a table {status=..., message=...},
//     and a status outside Healthy/Progressing/Degraded/Suspended/Missing/Unknown is an error;
//   - flux: what Flux's kustomize-controller makes of the object with the spec.healthCheckExprs of the Flux
//     Kustomization(s) in a YAML file (default examples/gitops/flux-kustomization.yaml), evaluated with
//     github.com/google/cel-go as github.com/fluxcd/pkg/runtime/cel does it (see flux.go). A kind without an
//     entry falls back to kstatus, as in Flux (fluxSource tells which one was used).
//
// Usage: gitops-health [-lua FILE] [-flux FILE] [FILE|-]
//
// Input: one object, a List (kind ending in "List" with items), a JSON array of objects, or several JSON
// documents one after another; read from FILE or stdin. Output: one JSON line per object:
// {"kind","name","kstatus","kstatusMessage","argo","argoMessage","flux","fluxMessage","fluxSource"}.
// The exit code is 0 unless the input or the script cannot be read (per-object errors go into the messages,
// with status "Error").
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Result is one output line.
type Result struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	KStatus        string `json:"kstatus"`
	KStatusMessage string `json:"kstatusMessage"`
	Argo           string `json:"argo"`
	ArgoMessage    string `json:"argoMessage"`
	Flux           string `json:"flux"`
	FluxMessage    string `json:"fluxMessage"`
	FluxSource     string `json:"fluxSource"`
}

// The Argo CD health status codes (github.com/argoproj/gitops-engine/pkg/health).
var argoStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	luaPath := flag.String("lua", "charts/clouddb-operator/files/argocd-health.lua",
		"the Argo CD health Lua script")
	fluxPath := flag.String("flux", "examples/gitops/flux-kustomization.yaml",
		"YAML with the Flux Kustomization(s) whose spec.healthCheckExprs are evaluated")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gitops-health [-lua FILE] [-flux FILE] [FILE|-]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	script, err := os.ReadFile(*luaPath)
	if err != nil {
		fatal(err)
	}
	fluxYAML, err := os.ReadFile(*fluxPath)
	if err != nil {
		fatal(err)
	}
	checks, err := loadHealthCheckExprs(fluxYAML)
	if err != nil {
		fatal(fmt.Errorf("%s: %w", *fluxPath, err))
	}
	var in io.Reader = os.Stdin
	if p := flag.Arg(0); p != "" && p != "-" {
		f, err := os.Open(p)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		in = f
	}
	objects, err := readObjects(in)
	if err != nil {
		fatal(err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, o := range objects {
		if err := out.Encode(evaluate(o, string(script), checks)); err != nil {
			fatal(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gitops-health:", err)
	os.Exit(1)
}

// readObjects decodes every JSON document of r, flattening Lists and arrays. Numbers are decoded as
// Kubernetes does (integers as int64), which kstatus needs for generation/observedGeneration.
func readObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := json.NewDecoder(r)
	var objects []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading JSON: %w", err)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '[' {
			var items []map[string]any
			if err := utiljson.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("decoding a JSON array of objects: %w", err)
			}
			for _, item := range items {
				objects = append(objects, &unstructured.Unstructured{Object: item})
			}
			continue
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("decoding a JSON object: %w", err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if strings.HasSuffix(u.GetKind(), "List") {
			if items, ok := obj["items"].([]any); ok {
				for _, item := range items {
					m, ok := item.(map[string]any)
					if !ok {
						return nil, fmt.Errorf("a List item is not an object")
					}
					objects = append(objects, &unstructured.Unstructured{Object: m})
				}
				continue
			}
		}
		objects = append(objects, u)
	}
	return objects, nil
}

func evaluate(u *unstructured.Unstructured, script string, checks []healthCheck) Result {
	r := Result{Kind: u.GetKind(), Name: u.GetName()}
	if res, err := status.Compute(u); err != nil {
		r.KStatus, r.KStatusMessage = "Error", err.Error()
	} else {
		r.KStatus, r.KStatusMessage = string(res.Status), res.Message
	}
	if st, msg, err := argoHealth(u, script); err != nil {
		r.Argo, r.ArgoMessage = "Error", err.Error()
	} else {
		r.Argo, r.ArgoMessage = st, msg
	}
	r.Flux, r.FluxMessage, r.FluxSource = fluxHealth(u, checks)
	return r
}

// argoHealth runs a health script as Argo CD's util/lua VM does (runLua + ExecuteHealthLua) for a script from
// argocd-cm without resource.customizations.useOpenLibs: the standard libraries are skipped, only package, base,
// table and a restricted os are opened, with a 1 s timeout.
func argoHealth(u *unstructured.Unstructured, script string) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	l.PreloadModule(lua.OsLibName, openSafeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, u.Object))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	// Argo CD converts the table to JSON and unmarshals a HealthStatus{status, message}.
	b, err := json.Marshal(fromLua(ret))
	if err != nil {
		return "", "", err
	}
	var hs struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &hs); err != nil {
		return "", "", fmt.Errorf("the health script returned %s: %w", b, err)
	}
	if !argoStatuses[hs.Status] {
		return "Unknown", "Lua returned an invalid health status", nil // Argo CD's answer, word for word
	}
	return hs.Status, hs.Message, nil
}

// openSafeOs is Argo CD's restricted os library: only time and date.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int { l.Push(lua.LNumber(time.Now().Unix())); return 1 },
		"date": func(l *lua.LState) int {
			l.Push(lua.LString(time.Now().UTC().Format(time.RFC3339)))
			return 1
		},
	})
	l.Push(mod)
	return 1
}

// toLua is Argo CD's decodeValue: objects become tables keyed by string, arrays 1-based tables.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case json.Number:
		return lua.LString(x)
	}
	return lua.LNil
}

// fromLua converts a Lua value back to JSON-able Go values (tables with keys 1..n become arrays).
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case *lua.LTable:
		if n := x.Len(); n > 0 {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(x.RawGetInt(i)))
			}
			return arr
		}
		m := map[string]any{}
		x.ForEach(func(k, val lua.LValue) { m[k.String()] = fromLua(val) })
		return m
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case lua.LBool:
		return bool(x)
	}
	return nil
}
