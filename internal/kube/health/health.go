// Package health evaluates custom health checks: CEL expressions declared
// per apiVersion and kind in flotilla.yaml (healthCheckExprs), the approach
// Flux's kustomize-controller takes. An expression sees the object's
// top-level fields as variables (apiVersion, kind, metadata, spec, status,
// data; a missing one is an empty map) and self, the whole object:
//
//   - apiVersion: example.com/v1
//     kind: Database
//     current: status.phase == 'Ready'
//     inProgress: status.phase == 'Provisioning'
//     failed: status.phase == 'Error'
//
// Checks are compiled once (Compile); evaluation is pure.
//
// The package also holds the built-in rules (Rules: Flotilla's overrides
// of kstatus, one per kind, as a table) and Of and With, which decide an
// object's Health from the checks, the rules and kstatus. Nothing here
// talks to a cluster.
package health

import (
	"errors"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Check is one custom health check, as flotilla.yaml declares it.
type Check struct {
	// APIVersion and Kind select the objects (exact match).
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Current is required: true when the object is healthy.
	Current string `json:"current"`
	// InProgress and Failed are optional; they are evaluated first, in
	// this order.
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
}

// Status is what a check concludes, in kstatus's terms.
type Status string

// Statuses.
const (
	Current    Status = "Current"
	InProgress Status = "InProgress"
	Failed     Status = "Failed"
)

// Result is a check's verdict on one object.
type Result struct {
	Status  Status
	Message string
}

// ExprError is an expression that does not compile: which check, which
// field, the expression and CEL's reason.
type ExprError struct {
	Index int    // the check's index
	Field string // current, inProgress, failed, apiVersion or kind
	Expr  string
	Err   error
}

func (e *ExprError) Error() string {
	if e.Expr == "" {
		return fmt.Sprintf("healthCheckExprs[%d].%s: %v", e.Index, e.Field, e.Err)
	}
	return fmt.Sprintf("healthCheckExprs[%d].%s %q: %v", e.Index, e.Field, e.Expr, e.Err)
}

func (e *ExprError) Unwrap() error { return e.Err }

// Checks are compiled checks. A nil *Checks matches nothing.
type Checks struct {
	byKind map[string]*compiled // apiVersion + "/" + kind
}

type compiled struct {
	check                       Check
	current, inProgress, failed cel.Program
}

// variables are the object's fields an expression can name directly.
var variables = []string{"apiVersion", "kind", "metadata", "spec", "status", "data", "self"}

// Compile checks and compiles every expression once. The first error is an
// *ExprError.
func Compile(checks []Check) (*Checks, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	opts := make([]cel.EnvOption, 0, len(variables))
	for _, v := range variables {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("make the CEL environment: %w", err)
	}
	out := &Checks{byKind: map[string]*compiled{}}
	for i, c := range checks {
		switch {
		case c.APIVersion == "":
			return nil, &ExprError{Index: i, Field: "apiVersion", Err: errors.New("required")}
		case c.Kind == "":
			return nil, &ExprError{Index: i, Field: "kind", Err: errors.New("required")}
		case c.Current == "":
			return nil, &ExprError{Index: i, Field: "current", Err: errors.New("required")}
		}
		key := c.APIVersion + "/" + c.Kind
		if _, dup := out.byKind[key]; dup {
			return nil, &ExprError{Index: i, Field: "kind", Err: fmt.Errorf("a second check for %s %s", c.APIVersion, c.Kind)}
		}
		cc := &compiled{check: c}
		for _, f := range []struct {
			name, expr string
			prg        *cel.Program
		}{{"current", c.Current, &cc.current}, {"inProgress", c.InProgress, &cc.inProgress}, {"failed", c.Failed, &cc.failed}} {
			if f.expr == "" {
				continue
			}
			ast, iss := env.Compile(f.expr)
			if iss.Err() != nil {
				return nil, &ExprError{Index: i, Field: f.name, Expr: f.expr, Err: iss.Err()}
			}
			if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
				return nil, &ExprError{Index: i, Field: f.name, Expr: f.expr, Err: fmt.Errorf("gives %s, want bool", t)}
			}
			prg, err := env.Program(ast, cel.CostLimit(1_000_000))
			if err != nil {
				return nil, &ExprError{Index: i, Field: f.name, Expr: f.expr, Err: err}
			}
			*f.prg = prg
		}
		out.byKind[key] = cc
	}
	return out, nil
}

// Eval runs the check for u's apiVersion and kind; ok is false when none
// applies. A generation not yet observed is InProgress; then inProgress,
// failed and current are evaluated in this order, the first true one
// deciding; none true is InProgress. An expression that cannot be
// evaluated (a field the object lacks) counts as false, and its error is
// in the message when nothing else decides.
func (c *Checks) Eval(u *unstructured.Unstructured) (res Result, ok bool) {
	if c == nil {
		return Result{}, false
	}
	cc := c.byKind[u.GetAPIVersion()+"/"+u.GetKind()]
	if cc == nil {
		return Result{}, false
	}
	if seen, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && seen != u.GetGeneration() {
		return Result{InProgress, fmt.Sprintf("generation %d not observed yet (status is of %d)", u.GetGeneration(), seen)}, true
	}
	vars := map[string]any{"self": u.Object}
	for _, v := range variables[:len(variables)-1] {
		if x, found := u.Object[v]; found {
			vars[v] = x
		} else {
			vars[v] = map[string]any{}
		}
	}
	var problems []string
	for _, step := range []struct {
		name   string
		expr   string
		prg    cel.Program
		status Status
	}{{"inProgress", cc.check.InProgress, cc.inProgress, InProgress}, {"failed", cc.check.Failed, cc.failed, Failed}, {"current", cc.check.Current, cc.current, Current}} {
		if step.prg == nil {
			continue
		}
		val, _, err := step.prg.Eval(vars)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", step.name, err))
			continue
		}
		if b, isBool := val.(types.Bool); !isBool {
			problems = append(problems, fmt.Sprintf("%s gave %v, not a bool", step.name, val))
			continue
		} else if b {
			return Result{step.status, fmt.Sprintf("custom health check: %s (%s)", step.name, step.expr)}, true
		}
	}
	msg := fmt.Sprintf("custom health check: current is false (%s)", cc.check.Current)
	for _, p := range problems {
		msg += "; " + p
	}
	return Result{InProgress, msg}, true
}
