package syncplan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Sync option keys: every option Argo CD knows, per app
// (spec.syncPolicy.syncOptions) or per object (argocd.argoproj.io/sync-options).
const (
	OptPrune                       = "Prune"
	OptDelete                      = "Delete"
	OptPruneLast                   = "PruneLast"
	OptReplace                     = "Replace"
	OptForce                       = "Force"
	OptServerSideApply             = "ServerSideApply"
	OptValidate                    = "Validate"
	OptFailOnSharedResource        = "FailOnSharedResource"
	OptCreateNamespace             = "CreateNamespace"
	OptRespectIgnoreDifferences    = "RespectIgnoreDifferences"
	OptApplyOutOfSyncOnly          = "ApplyOutOfSyncOnly"
	OptSkipDryRunOnMissingResource = "SkipDryRunOnMissingResource"
	OptPrunePropagationPolicy      = "PrunePropagationPolicy"
	OptClientSideApplyMigration    = "ClientSideApplyMigration"
)

var boolean = []string{"true", "false"}

// knownOptions are the values each option takes, as Argo CD accepts them.
var knownOptions = map[string][]string{
	OptPrune:                       {"true", "false", "confirm"},
	OptDelete:                      {"true", "false", "confirm"},
	OptPruneLast:                   boolean,
	OptReplace:                     boolean,
	OptForce:                       boolean,
	OptServerSideApply:             boolean,
	OptValidate:                    boolean,
	OptFailOnSharedResource:        boolean,
	OptCreateNamespace:             boolean,
	OptRespectIgnoreDifferences:    boolean,
	OptApplyOutOfSyncOnly:          boolean,
	OptSkipDryRunOnMissingResource: boolean,
	OptPrunePropagationPolicy:      {"foreground", "background", "orphan"},
	OptClientSideApplyMigration:    boolean,
}

// OptionError is a sync option Flotilla (and Argo CD) does not know, or a
// known one with a value it does not take.
type OptionError struct {
	// Option is the option as written.
	Option string
	// Where names its origin: "syncPolicy.syncOptions" or an object's
	// annotation.
	Where string
}

func (e *OptionError) Error() string {
	key, _, _ := strings.Cut(e.Option, "=")
	if values, ok := knownOptions[key]; ok {
		return fmt.Sprintf("%s: sync option %q: %s takes %s", e.Where, e.Option, key, strings.Join(values, ", "))
	}
	return fmt.Sprintf("%s: unknown sync option %q (known: %s)", e.Where, e.Option, strings.Join(knownKeys(), ", "))
}

func knownKeys() []string {
	keys := make([]string, 0, len(knownOptions))
	for k := range knownOptions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Options are parsed sync options: option key → value. The zero value
// has none set.
type Options map[string]string

// ParseOptions parses sync options written as Key=value; where names
// their origin for errors. Every unknown option or value is an
// *OptionError (joined).
func ParseOptions(list []string, where string) (Options, error) {
	out := Options{}
	var errs []error
	for _, raw := range list {
		opt := strings.TrimSpace(raw)
		if opt == "" {
			continue
		}
		key, value, _ := strings.Cut(opt, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !slices.Contains(knownOptions[key], value) {
			errs = append(errs, &OptionError{Option: opt, Where: where})
			continue
		}
		out[key] = value
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ObjectOptions parses an object's argocd.argoproj.io/sync-options
// (comma-separated).
func ObjectOptions(u *unstructured.Unstructured) (Options, error) {
	v, ok := u.GetAnnotations()[AnnotationSyncOptions]
	if !ok {
		return Options{}, nil
	}
	return ParseOptions(strings.Split(v, ","), objectID(u)+" annotation "+AnnotationSyncOptions)
}

// For returns the options that apply to u: the app's, overridden key by
// key by the object's annotation. An object whose annotation does not
// parse gets the app's (apply checked every object before it started).
func (o Options) For(u *unstructured.Unstructured) Options {
	obj, err := ObjectOptions(u)
	if err != nil || len(obj) == 0 {
		return o
	}
	out := Options{}
	for k, v := range o {
		out[k] = v
	}
	for k, v := range obj {
		out[k] = v
	}
	return out
}

// Is reports whether option key is set to value.
func (o Options) Is(key, value string) bool { return o[key] == value }

// True reports whether a boolean option is set to true.
func (o Options) True(key string) bool { return o[key] == "true" }

// Notes lists, in a fixed order, what Flotilla does differently from
// Argo CD for the options set: options it accepts and always behaves as
// if they were set one way.
func (o Options) Notes() []string {
	var out []string
	if o.Is(OptServerSideApply, "false") {
		out = append(out, "ServerSideApply=false: Flotilla always applies server-side (field manager flotilla)")
	}
	if o.Is(OptValidate, "false") && !o.True(OptReplace) {
		out = append(out, "Validate=false: server-side apply still refuses fields the schema does not declare (with Replace=true they are dropped)")
	}
	if o.Is(OptApplyOutOfSyncOnly, "false") {
		out = append(out, "ApplyOutOfSyncOnly=false: Flotilla applies only objects whose server-side dry-run differs")
	}
	if o.Is(OptClientSideApplyMigration, "false") {
		out = append(out, "ClientSideApplyMigration=false: Flotilla always takes fields over from kubectl's client-side apply")
	}
	return out
}

func objectID(u *unstructured.Unstructured) string {
	name := u.GetName()
	if name == "" {
		name = u.GetGenerateName() + "*"
	}
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + name
	}
	return u.GetKind() + "/" + name
}
