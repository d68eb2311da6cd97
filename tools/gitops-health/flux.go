package main

// Flux health of an object under a Kustomization's spec.healthCheckExprs, reproducing kustomize-controller
// (Flux 2.5+), which evaluates them with github.com/fluxcd/pkg/runtime/cel:
//
//   - each entry applies to the objects of its group and kind (apiVersion's group + kind; the version is not
//     compared), through a kstatus generic status reader; kinds without an entry keep kstatus;
//   - cel.NewExpression: a cel-go environment with HomogeneousAggregateLiterals, EagerlyValidateDeclarations,
//     DefaultUTCTimeZone, CrossTypeNumericComparisons, OptionalTypes and the Strings, Sets and Encoders
//     extensions; the expression is only parsed (not type-checked: no variables are declared) and run with
//     OptOptimize and InterruptCheckFrequency(100); the activation is the object's unstructured content, so the
//     top-level fields (apiVersion, kind, metadata, spec, status) are the variables; a result that is not a
//     bool is an error;
//   - StatusEvaluator.Evaluate (RFC 0009): if status.observedGeneration exists and differs from
//     metadata.generation, InProgress without evaluating anything; else inProgress, failed, current in this
//     order (the optional ones only if set), the first true one wins; none true: InProgress. An evaluation
//     error ends the evaluation and the generic status reader turns it into Unknown (Flux keeps waiting until
//     the Kustomization's timeout);
//   - NewStatusEvaluator: current is required; an expression that does not parse is an error of the
//     Kustomization (reported here, per object, as "Error").
//
// cel-go is pinned in go.mod to the version github.com/fluxcd/pkg/runtime requires.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// healthCheck is one entry of spec.healthCheckExprs, parsed.
type healthCheck struct {
	gk                          schema.GroupKind
	current, failed, inProgress *celExpression
	err                         error // the entry cannot be used (missing current, parse error)
}

type celExpression struct {
	name string // current, failed, inProgress
	expr string
	prog cel.Program
}

// loadHealthCheckExprs reads every Kustomization (kustomize.toolkit.fluxcd.io) of a YAML stream and returns
// their healthCheckExprs entries, in order.
func loadHealthCheckExprs(data []byte) ([]healthCheck, error) {
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	var checks []healthCheck
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		u := &unstructured.Unstructured{Object: doc}
		if u.GetKind() != "Kustomization" || !strings.HasPrefix(u.GetAPIVersion(), "kustomize.toolkit.fluxcd.io/") {
			continue
		}
		entries, _, err := unstructured.NestedSlice(doc, "spec", "healthCheckExprs")
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s: spec.healthCheckExprs: %w", u.GetName(), err)
		}
		for i, e := range entries {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("Kustomization %s: healthCheckExprs[%d] is not an object", u.GetName(), i)
			}
			str := func(k string) string { s, _ := m[k].(string); return s }
			gv, err := schema.ParseGroupVersion(str("apiVersion"))
			if err != nil {
				return nil, fmt.Errorf("Kustomization %s: healthCheckExprs[%d].apiVersion: %w", u.GetName(), i, err)
			}
			hc := healthCheck{gk: schema.GroupKind{Group: gv.Group, Kind: str("kind")}}
			if str("current") == "" {
				hc.err = fmt.Errorf("expression Current not specified")
			}
			for _, x := range []struct {
				name string
				dst  **celExpression
			}{{"current", &hc.current}, {"failed", &hc.failed}, {"inProgress", &hc.inProgress}} {
				if hc.err != nil || str(x.name) == "" {
					continue
				}
				*x.dst, err = newCELExpression(x.name, str(x.name))
				if err != nil {
					hc.err = fmt.Errorf("failed to parse the expression %s: %w", x.name, err)
				}
			}
			checks = append(checks, hc)
		}
	}
	return checks, nil
}

// newCELExpression is fluxcd/pkg/runtime/cel.NewExpression without options (as NewStatusEvaluator calls it).
func newCELExpression(name, expr string) (*celExpression, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to create CEL environment: %w", err)
	}
	ast, issues := env.Parse(expr)
	if issues != nil {
		return nil, fmt.Errorf("failed to parse the CEL expression '%s': %s", expr, issues.String())
	}
	prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("failed to create CEL program: %w", err)
	}
	return &celExpression{name: name, expr: expr, prog: prog}, nil
}

func (e *celExpression) evaluateBoolean(ctx context.Context, data map[string]any) (bool, error) {
	val, _, err := e.prog.ContextEval(ctx, data)
	if err != nil {
		return false, fmt.Errorf("failed to evaluate the CEL expression '%s': %w", e.expr, err)
	}
	result, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("failed to evaluate CEL expression as boolean: '%s'", e.expr)
	}
	return bool(result), nil
}

// fluxHealth returns the Flux status of u (Current, InProgress, Failed, Unknown, or kstatus's for kinds
// without an entry), a message, and the source: "healthCheckExprs" or "kstatus".
func fluxHealth(u *unstructured.Unstructured, checks []healthCheck) (string, string, string) {
	gk := u.GroupVersionKind().GroupKind()
	var hc *healthCheck
	for i := range checks {
		if checks[i].gk == gk {
			hc = &checks[i]
			break
		}
	}
	if hc == nil {
		res, err := status.Compute(u)
		if err != nil {
			return "Error", err.Error(), "kstatus"
		}
		return string(res.Status), res.Message, "kstatus"
	}
	if hc.err != nil {
		return "Error", hc.err.Error(), "healthCheckExprs"
	}
	st, msg, err := evaluateCEL(context.Background(), hc, u.UnstructuredContent())
	if err != nil {
		// kstatus's generic status reader: an error of the status function is status Unknown.
		return string(status.UnknownStatus), err.Error(), "healthCheckExprs"
	}
	return string(st), msg, "healthCheckExprs"
}

// evaluateCEL is fluxcd/pkg/runtime/cel.StatusEvaluator.Evaluate; the message (ours, Flux sets none) names
// the rule that decided.
func evaluateCEL(ctx context.Context, hc *healthCheck, obj map[string]any) (status.Status, string, error) {
	observed, ok, err := unstructured.NestedInt64(obj, "status", "observedGeneration")
	if err != nil {
		return "", "", err
	}
	if ok {
		generation, ok, err := unstructured.NestedInt64(obj, "metadata", "generation")
		if err != nil {
			return "", "", err
		}
		if ok && observed != generation {
			return status.InProgressStatus, fmt.Sprintf("status.observedGeneration %d != metadata.generation %d",
				observed, generation), nil
		}
	}
	for _, e := range []struct {
		expr   *celExpression
		status status.Status
	}{
		{hc.inProgress, status.InProgressStatus},
		{hc.failed, status.FailedStatus},
		{hc.current, status.CurrentStatus},
	} {
		if e.expr == nil {
			continue
		}
		result, err := e.expr.evaluateBoolean(ctx, obj)
		if err != nil {
			return "", "", err
		}
		if result {
			return e.status, e.expr.name + " is true", nil
		}
	}
	return status.InProgressStatus, "no expression is true", nil
}
