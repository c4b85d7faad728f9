// Package policy evaluates one cluster's rendered objects against the
// admission policies the same render deploys to that cluster: the
// ValidatingAdmissionPolicies and their bindings (admissionregistration.k8s.io/v1)
// and the Pod Security Standards named by the pod-security.kubernetes.io labels
// of rendered Namespaces.
//
// Evaluation uses Kubernetes' own code, not a re-implementation: the CEL
// compiler, matcher and validator of the apiserver's ValidatingAdmissionPolicy
// plugin (k8s.io/apiserver/pkg/admission/plugin/policy) and the checks of
// k8s.io/pod-security-admission. Every object is evaluated as a CREATE by a
// user with no permissions (authorizer checks in CEL see no opinion).
//
// Namespaces the render does not create are assumed to exist with only the
// label the apiserver sets on every namespace, kubernetes.io/metadata.name
// (DefaultNamespaceLabels).
//
// Package policy is pure: it reads nothing from disk or network.
package policy

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/generic"
	"k8s.io/apiserver/pkg/admission/plugin/policy/matching"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Action is what a cluster does with an object that fails a policy.
type Action string

// The actions of a ValidatingAdmissionPolicyBinding's validationActions; Pod
// Security uses the same three for its enforce, warn and audit labels.
const (
	Deny  Action = "Deny"
	Warn  Action = "Warn"
	Audit Action = "Audit"
)

// PodSecurity is the Violation.Policy of a Pod Security Standards violation.
const PodSecurity = "PodSecurity"

// Object is one rendered object and the app that renders it.
type Object struct {
	App    string
	Object *unstructured.Unstructured
	// Shared marks an Object that several apps render alike: App's own
	// object is a copy of it with Input.AppAnnotation set to App. Object
	// is then never changed: it is evaluated as it is when no policy may
	// read annotations (its verdict is the same for every app), else
	// App's copy is made first. Shared needs Input.AppAnnotation.
	Shared bool
}

// own returns App's own object (see Shared).
func (o Object) own(annotation string) Object {
	if !o.Shared {
		return o
	}
	c := o.Object.DeepCopy()
	ann := c.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotation] = o.App
	c.SetAnnotations(ann)
	return Object{App: o.App, Object: c}
}

// Violation is one object failing one policy through one binding.
type Violation struct {
	Cluster    string `json:"cluster"`
	App        string `json:"app"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Policy is the ValidatingAdmissionPolicy's name, or PodSecurity.
	Policy string `json:"policy"`
	// Binding is the binding's name, or for Pod Security the namespace label
	// that sets the level (pod-security.kubernetes.io/enforce, warn or audit).
	Binding string `json:"binding"`
	Action  Action `json:"action"`
	Message string `json:"message"`
}

// Object returns "Kind namespace/name" (or "Kind name" if cluster-scoped).
func (v Violation) Object() string {
	if v.Namespace == "" {
		return v.Kind + " " + v.Name
	}
	return v.Kind + " " + v.Namespace + "/" + v.Name
}

// NotEvaluated is a policy found in the render that this package cannot
// evaluate (Kyverno policies).
type NotEvaluated struct {
	App        string `json:"app"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// Report is the result of evaluating one cluster.
type Report struct {
	Cluster string `json:"cluster"`
	// Policies and Bindings count the ValidatingAdmissionPolicies and
	// bindings found for the cluster.
	Policies     int            `json:"policies"`
	Bindings     int            `json:"bindings"`
	Violations   []Violation    `json:"violations,omitempty"`
	NotEvaluated []NotEvaluated `json:"notEvaluated,omitempty"`
}

// Denied reports whether any violation has the Deny action.
func (r *Report) Denied() bool {
	for _, v := range r.Violations {
		if v.Action == Deny {
			return true
		}
	}
	return false
}

// DefaultNamespaceLabels returns the labels assumed for a namespace that the
// render does not create: only kubernetes.io/metadata.name, which the
// apiserver sets on every namespace.
func DefaultNamespaceLabels(name string) map[string]string {
	return map[string]string{corev1.LabelMetadataName: name}
}

// Evaluator compiles policies and evaluates objects. Compiled policies are
// cached by content (spec and CEL version), so clusters that run the same
// policies share one compilation. An Evaluator is safe for concurrent use.
type Evaluator struct {
	// sharedKeys are the content keys of Shared objects, which many
	// clusters' Inputs hold: each is hashed once.
	sharedKeys sync.Map // sharedKey -> string
	mu         sync.Mutex
	compiled   map[string]*compileEntry
	psa        map[string]*psaEvaluator
	compiles   int
	// verdicts are the violations (without cluster and app) of an object
	// Key under a cluster's policy fingerprint.
	verdicts map[string][]Violation
	memoHits int
}

type compileEntry struct {
	once      sync.Once
	validator validating.Validator
}

// NewEvaluator returns an Evaluator with an empty compile cache.
func NewEvaluator() *Evaluator {
	return &Evaluator{compiled: map[string]*compileEntry{}, psa: map[string]*psaEvaluator{}, verdicts: map[string][]Violation{}}
}

// Compiles returns how many distinct policies have been compiled.
func (e *Evaluator) Compiles() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compiles
}

// celVersion returns the CEL compatibility version for a cluster's
// kubeVersion ("1.30", "v1.30.2"); "" means the library's default.
func celVersion(kubeVersion string) (*version.Version, error) {
	if kubeVersion == "" {
		return environment.DefaultCompatibilityVersion(), nil
	}
	v, err := version.ParseGeneric(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("parse kubeVersion %q: %w", kubeVersion, err)
	}
	return version.MajorMinor(v.Major(), v.Minor()), nil
}

// compile returns the validator of p for CEL version ver, compiling it once
// per distinct content.
func (e *Evaluator) compile(p *admissionregistrationv1.ValidatingAdmissionPolicy, ver *version.Version) validating.Validator {
	spec, _ := json.Marshal(p.Spec)
	sum := sha256.Sum256(append([]byte(ver.String()+"\x00"), spec...))
	key := hex.EncodeToString(sum[:])
	e.mu.Lock()
	ent, ok := e.compiled[key]
	if !ok {
		ent = &compileEntry{}
		e.compiled[key] = ent
		e.compiles++
	}
	e.mu.Unlock()
	ent.once.Do(func() { ent.validator = compilePolicy(p, ver) })
	return ent.validator
}

// compilePolicy is the apiserver plugin's compilePolicy (unexported there)
// with the CEL environment of the cluster's version: expressions may use the
// CEL libraries introduced up to that version (environment.NewExpressions),
// as the cluster's apiserver allows.
func compilePolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy, ver *version.Version) validating.Validator {
	hasParam := p.Spec.ParamKind != nil
	optionalVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: true}
	expressionOptionalVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: false}
	failurePolicy := p.Spec.FailurePolicy
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(ver))
	if err != nil {
		return validating.NewValidator(nil, nil, nil, nil, failurePolicy, err)
	}
	mode := environment.NewExpressions
	vars := make([]plugincel.NamedExpressionAccessor, len(p.Spec.Variables))
	for i, v := range p.Spec.Variables {
		vars[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	compiler.CompileAndStoreVariables(vars, optionalVars, mode)
	var matcher matchconditions.Matcher
	if len(p.Spec.MatchConditions) > 0 {
		acc := make([]plugincel.ExpressionAccessor, len(p.Spec.MatchConditions))
		for i := range p.Spec.MatchConditions {
			acc[i] = (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i])
		}
		matcher = matchconditions.NewMatcher(compiler.CompileCondition(acc, optionalVars, mode), failurePolicy, "policy", "validate", p.Name)
	}
	validations := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	audits := make([]plugincel.ExpressionAccessor, len(p.Spec.AuditAnnotations))
	for i, a := range p.Spec.AuditAnnotations {
		audits[i] = &validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression}
	}
	return validating.NewValidator(
		compiler.CompileCondition(validations, optionalVars, mode),
		matcher,
		compiler.CompileCondition(audits, optionalVars, mode),
		compiler.CompileCondition(messages, expressionOptionalVars, mode),
		failurePolicy,
		nil,
	)
}

// Input is one cluster's render.
type Input struct {
	Cluster string
	// KubeVersion is the cluster's version from the inventory ("1.30");
	// it decides the CEL libraries and the Pod Security "latest" version.
	KubeVersion string
	Objects     []Object
	// AppAnnotation names an annotation whose value is the app's name, so
	// differs between clusters for the same content (render's
	// flotilla.dev/app). An object's verdict is computed once for all the
	// clusters with the same policies, params, namespaces and version, and
	// the same object content but for this annotation's value, unless a
	// policy's CEL may read annotations (mentions "annotations", or
	// "metadata" other than as metadata.name, .namespace, .labels or
	// .generateName): then only identical objects share a verdict.
	AppAnnotation string
	// Extra are fleet-level policies and params (from flotilla.yaml's
	// policy.policiesDir): they apply to the cluster but are not evaluated
	// as rendered objects themselves.
	Extra []*unstructured.Unstructured
}

var (
	vapGVK     = admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy")
	bindingGVK = admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicyBinding")
)

type hook struct {
	policy     *admissionregistrationv1.ValidatingAdmissionPolicy
	bindings   []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	validator  validating.Validator
	paramStore informers.GenericInformer
	paramScope meta.RESTScope
}

// Evaluate evaluates every object of in against the policies found in
// in.Objects and in.Extra. A policy or binding that cannot be decoded is an
// error naming its app; a policy whose CEL does not compile is reported the
// way the apiserver reports it, by its failurePolicy.
func (e *Evaluator) Evaluate(ctx context.Context, in Input) (*Report, error) {
	ver, err := celVersion(in.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", in.Cluster, err)
	}
	rep := &Report{Cluster: in.Cluster}
	all := make([]Object, 0, len(in.Objects)+len(in.Extra))
	all = append(all, in.Objects...)
	for _, u := range in.Extra {
		all = append(all, Object{App: "", Object: u})
	}
	if in.AppAnnotation == "" && slices.ContainsFunc(in.Objects, func(o Object) bool { return o.Shared }) {
		return nil, fmt.Errorf("cluster %s: shared objects need Input.AppAnnotation", in.Cluster)
	}

	var policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	var policyIdx []int // policies and bindings, as rendered: indexes into all
	bindings := map[string][]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	namespaces := map[string]*corev1.Namespace{}
	crdScope := map[schema.GroupKind]crdInfo{}
	for i, o := range all {
		u := o.Object
		gvk := u.GroupVersionKind()
		switch {
		case gvk == vapGVK:
			policyIdx = append(policyIdx, i)
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
				return nil, fmt.Errorf("decode ValidatingAdmissionPolicy %s of app %s on cluster %s: %w", u.GetName(), appName(o.App), in.Cluster, err)
			}
			defaultPolicy(p)
			policies = append(policies, p)
		case gvk == bindingGVK:
			policyIdx = append(policyIdx, i)
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, b); err != nil {
				return nil, fmt.Errorf("decode ValidatingAdmissionPolicyBinding %s of app %s on cluster %s: %w", u.GetName(), appName(o.App), in.Cluster, err)
			}
			defaultBinding(b)
			bindings[b.Spec.PolicyName] = append(bindings[b.Spec.PolicyName], b)
			rep.Bindings++
		case gvk.Group == "" && gvk.Kind == "Namespace":
			ns := &corev1.Namespace{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ns); err != nil {
				return nil, fmt.Errorf("decode Namespace %s of app %s on cluster %s: %w", u.GetName(), appName(o.App), in.Cluster, err)
			}
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
			namespaces[ns.Name] = ns
		case gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition":
			group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
			plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
			scope, _, _ := unstructured.NestedString(u.Object, "spec", "scope")
			crdScope[schema.GroupKind{Group: group, Kind: kind}] = crdInfo{plural: plural, namespaced: scope != "Cluster"}
		case gvk.Group == "kyverno.io" && (gvk.Kind == "ClusterPolicy" || gvk.Kind == "Policy"):
			rep.NotEvaluated = append(rep.NotEvaluated, NotEvaluated{App: o.App, APIVersion: u.GetAPIVersion(), Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()})
		}
	}
	rep.Policies = len(policies)
	// A policy may read annotations: each app's own objects, with their
	// own AppAnnotation values, are evaluated and hashed.
	ignore := ""
	if in.AppAnnotation != "" && !readsAnnotations(policies) {
		ignore = in.AppAnnotation
	} else {
		for i := range all {
			all[i] = all[i].own(in.AppAnnotation)
		}
	}
	// Every namespace an object lives in exists: rendered, or by default.
	for _, o := range all {
		if ns := o.Object.GetNamespace(); ns != "" && namespaces[ns] == nil {
			namespaces[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: DefaultNamespaceLabels(ns)}}
		}
	}
	nsIndexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, ns := range namespaces {
		if err := nsIndexer.Add(ns); err != nil {
			return nil, fmt.Errorf("index namespace %s: %w", ns.Name, err)
		}
	}
	m := generic.NewPolicyMatcher(matching.NewMatcher(listersv1.NewNamespaceLister(nsIndexer), nil))
	oi := admission.NewObjectInterfacesFromScheme(runtime.NewScheme())

	slices.SortFunc(policies, func(a, b *admissionregistrationv1.ValidatingAdmissionPolicy) int { return cmp.Compare(a.Name, b.Name) })
	hooks := make([]hook, 0, len(policies))
	for _, p := range policies {
		bs := bindings[p.Name]
		if len(bs) == 0 {
			continue
		}
		slices.SortFunc(bs, func(a, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) int {
			return cmp.Compare(a.Name, b.Name)
		})
		h := hook{policy: p, bindings: bs, validator: e.compile(p, ver)}
		if pk := p.Spec.ParamKind; pk != nil {
			h.paramStore, h.paramScope = paramStore(pk, all, crdScope)
		}
		hooks = append(hooks, h)
	}

	psaEval, err := e.podSecurity(ver)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", in.Cluster, err)
	}
	authz := authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionNoOpinion, "offline policy evaluation has no authorizer", nil
	})
	policyKeys := make([]string, len(policyIdx))
	for i, j := range policyIdx {
		policyKeys[i] = e.contentKey(all[j], ignore)
	}
	fp := fingerprint(ver, policyKeys, namespaces, hooks, crdScope, ignore)
	for _, o := range all[:len(in.Objects)] {
		key := e.contentKey(o, ignore)
		if vs, ok := e.verdict(fp, key); ok {
			for _, v := range vs {
				v.Cluster, v.App = in.Cluster, o.App
				rep.Violations = append(rep.Violations, v)
			}
			continue
		}
		vs := evaluateVAP(ctx, hooks, m, oi, authz, crdScope, o, in.Cluster)
		vs = append(vs, psaEval.evaluate(o, namespaces, in.Cluster)...)
		rep.Violations = append(rep.Violations, vs...)
		e.remember(fp, key, vs)
	}
	sortViolations(rep.Violations)
	slices.SortFunc(rep.NotEvaluated, func(a, b NotEvaluated) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.App, b.App))
	})
	return rep, nil
}

// fingerprint hashes everything besides an object itself that decides its
// verdict on a cluster: the CEL version, the policies and bindings, the
// rendered namespaces (a namespace not rendered has labels that depend on
// its name only), the params (but for the value of annotation ignore) and
// the rendered CRDs' resource names.
func fingerprint(ver *version.Version, policyKeys []string, namespaces map[string]*corev1.Namespace, hooks []hook, crds map[schema.GroupKind]crdInfo, ignore string) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(ver.String())
	keys := slices.Sorted(slices.Values(policyKeys))
	_ = enc.Encode(keys)
	nsNames := make([]string, 0, len(namespaces))
	for n := range namespaces {
		nsNames = append(nsNames, n)
	}
	slices.Sort(nsNames)
	for _, n := range nsNames {
		_ = enc.Encode([]any{n, namespaces[n].Labels})
	}
	for _, hk := range hooks {
		if hk.paramStore == nil {
			continue
		}
		params, _ := hk.paramStore.Lister().List(labels.Everything())
		keys = make([]string, len(params))
		for i, p := range params {
			if u, ok := p.(*unstructured.Unstructured); ok {
				keys[i] = contentKey(u, ignore)
			}
		}
		slices.Sort(keys)
		_ = enc.Encode([]any{hk.policy.Name, hk.paramScope.Name(), keys})
	}
	gks := make([]string, 0, len(crds))
	for gk, c := range crds {
		gks = append(gks, fmt.Sprintf("%s|%s|%t", gk, c.plural, c.namespaced))
	}
	slices.Sort(gks)
	_ = enc.Encode(gks)
	return hex.EncodeToString(h.Sum(nil))
}

type sharedKey struct {
	obj    *unstructured.Unstructured
	ignore string
}

// contentKey is contentKey(o.Object, ignore), computed once for a Shared
// object, which many clusters hold.
func (e *Evaluator) contentKey(o Object, ignore string) string {
	if !o.Shared {
		return contentKey(o.Object, ignore)
	}
	k := sharedKey{o.Object, ignore}
	if v, ok := e.sharedKeys.Load(k); ok {
		return v.(string)
	}
	key := contentKey(o.Object, ignore)
	e.sharedKeys.Store(k, key)
	return key
}

// contentKey hashes u's content, without the value of annotation ignore.
func contentKey(u *unstructured.Unstructured, ignore string) string {
	obj := u.Object
	if ignore != "" {
		if ann := u.GetAnnotations(); ann != nil {
			if _, ok := ann[ignore]; ok {
				obj = maps.Clone(u.Object)
				md, _ := obj["metadata"].(map[string]any)
				md = maps.Clone(md)
				a, _ := md["annotations"].(map[string]any)
				a = maps.Clone(a)
				a[ignore] = ""
				md["annotations"] = a
				obj["metadata"] = md
			}
		}
	}
	bp := keyBuffers.Get().(*[]byte)
	buf := hashValue((*bp)[:0], obj)
	sum := sha256.Sum256(buf)
	*bp = buf
	keyBuffers.Put(bp)
	return hex.EncodeToString(sum[:])
}

var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// hashValue appends an unambiguous encoding of a JSON-like value (maps
// with sorted keys) to buf: cheaper than encoding/json.
func hashValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for _, k := range keys {
			buf = appendString(buf, k)
			buf = hashValue(buf, x[k])
		}
		return append(buf, '}')
	case []any:
		buf = append(buf, '[')
		for _, e := range x {
			buf = hashValue(buf, e)
		}
		return append(buf, ']')
	case string:
		return appendString(buf, x)
	case nil:
		return append(buf, 'n')
	case bool:
		return strconv.AppendBool(append(buf, 'b'), x)
	case int64:
		return strconv.AppendInt(append(buf, 'i'), x, 10)
	case float64:
		return strconv.AppendFloat(append(buf, 'f'), x, 'g', -1, 64)
	default:
		return fmt.Appendf(buf, "#%T:%v;", x, x)
	}
}

func appendString(buf []byte, s string) []byte {
	buf = strconv.AppendInt(append(buf, '"'), int64(len(s)), 10)
	return append(append(buf, ':'), s...)
}

func (e *Evaluator) verdict(fp, key string) ([]Violation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	vs, ok := e.verdicts[fp+"\x00"+key]
	if ok {
		e.memoHits++
	}
	return vs, ok
}

func (e *Evaluator) remember(fp, key string, vs []Violation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.verdicts[fp+"\x00"+key] = slices.Clone(vs)
}

// Reused returns how many object verdicts were reused from another cluster
// with the same policies (see Input.AppAnnotation).
func (e *Evaluator) Reused() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.memoHits
}

func appName(app string) string {
	if app == "" {
		return "(fleet policiesDir)"
	}
	return app
}

func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.App, b.App),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.Binding, b.Binding), cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.Message, b.Message))
	})
}

type crdInfo struct {
	plural     string
	namespaced bool
}

// resourceFor maps a kind to its resource: a rendered CRD's plural, else the
// apimachinery guess (lower-case plural), which is right for built-in kinds.
func resourceFor(gvk schema.GroupVersionKind, crds map[schema.GroupKind]crdInfo) schema.GroupVersionResource {
	if c, ok := crds[gvk.GroupKind()]; ok && c.plural != "" {
		return gvk.GroupVersion().WithResource(c.plural)
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural
}

// defaultPolicy applies the apiserver's defaults (pkg/apis/admissionregistration/v1/defaults.go).
func defaultPolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	if p.Spec.FailurePolicy == nil {
		f := admissionregistrationv1.Fail
		p.Spec.FailurePolicy = &f
	}
	if p.Spec.MatchConstraints != nil {
		defaultMatchResources(p.Spec.MatchConstraints)
	}
}

func defaultBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	if b.Spec.MatchResources != nil {
		defaultMatchResources(b.Spec.MatchResources)
	}
}

func defaultMatchResources(m *admissionregistrationv1.MatchResources) {
	if m.MatchPolicy == nil {
		e := admissionregistrationv1.Equivalent
		m.MatchPolicy = &e
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for _, rules := range [][]admissionregistrationv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for i := range rules {
			if rules[i].Scope == nil {
				s := admissionregistrationv1.AllScopes
				rules[i].Scope = &s
			}
		}
	}
}

// syncedInformer is a param informer whose store is filled from the render
// before use: it is always synced.
type syncedInformer struct {
	cache.SharedIndexInformer
	lister cache.GenericLister
}

func (s syncedInformer) HasSynced() bool                     { return true }
func (s syncedInformer) Informer() cache.SharedIndexInformer { return s }
func (s syncedInformer) Lister() cache.GenericLister         { return s.lister }

// paramStore indexes the rendered objects of a param kind. The kind is
// namespaced if a rendered CRD says so, if it is a built-in namespaced kind
// (guessed: any rendered object of that kind has a namespace), or if there
// are no rendered objects of the kind and it is core/v1 ConfigMap or Secret.
func paramStore(pk *admissionregistrationv1.ParamKind, all []Object, crds map[schema.GroupKind]crdInfo) (informers.GenericInformer, meta.RESTScope) {
	gv, _ := schema.ParseGroupVersion(pk.APIVersion)
	gvk := gv.WithKind(pk.Kind)
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	namespaced := gvk.Group == "" && (gvk.Kind == "ConfigMap" || gvk.Kind == "Secret")
	for _, o := range all {
		if o.Object.GroupVersionKind() != gvk {
			continue
		}
		if o.Object.GetNamespace() != "" {
			namespaced = true
		}
		_ = idx.Add(o.Object)
	}
	if c, ok := crds[gvk.GroupKind()]; ok {
		namespaced = c.namespaced
	}
	scope := meta.RESTScopeRoot
	if namespaced {
		scope = meta.RESTScopeNamespace
	}
	gvr := resourceFor(gvk, crds)
	return syncedInformer{lister: cache.NewGenericLister(idx, gvr.GroupResource())}, scope
}

// evaluateVAP is the apiserver's validating dispatcher (Dispatch) for one
// object, collecting every decision instead of stopping at the first denial.
func evaluateVAP(ctx context.Context, hooks []hook, m generic.PolicyMatcher, oi admission.ObjectInterfaces, authz authorizer.UnconditionalAuthorizer, crds map[schema.GroupKind]crdInfo, o Object, cluster string) []Violation {
	if len(hooks) == 0 {
		return nil
	}
	u := o.Object
	gvk := u.GroupVersionKind()
	gvr := resourceFor(gvk, crds)
	attr := admission.NewAttributesRecord(u, nil, gvk, u.GetNamespace(), u.GetName(), gvr, "", admission.Create, &metav1.CreateOptions{}, true,
		&user.DefaultInfo{Name: "flotilla"})
	var out []Violation
	add := func(p, b string, action Action, msg string) {
		out = append(out, Violation{Cluster: cluster, App: o.App, APIVersion: u.GetAPIVersion(), Kind: gvk.Kind,
			Namespace: u.GetNamespace(), Name: u.GetName(), Policy: p, Binding: b, Action: action, Message: msg})
	}
	configError := func(h hook, b string, err error) {
		if *h.policy.Spec.FailurePolicy == admissionregistrationv1.Ignore {
			return
		}
		what := "policy"
		if b != "" {
			what = "binding"
		}
		add(h.policy.Name, b, Deny, fmt.Sprintf("configure %s: %v", what, err))
	}
	for _, h := range hooks {
		matches, matchResource, matchKind, err := m.DefinitionMatches(attr, oi, validating.NewValidatingAdmissionPolicyAccessor(h.policy))
		if err != nil {
			configError(h, "", err)
			continue
		}
		if !matches {
			continue
		}
		for _, b := range h.bindings {
			ok, err := m.BindingMatches(attr, oi, validating.NewValidatingAdmissionPolicyBindingAccessor(b))
			if err != nil {
				configError(h, b.Name, err)
				continue
			}
			if !ok {
				continue
			}
			params, err := generic.CollectParams(h.policy.Spec.ParamKind, h.paramStore, h.paramScope, b.Spec.ParamRef, u.GetNamespace(), nil, nil)
			if err != nil {
				configError(h, b.Name, err)
				continue
			}
			va, err := admission.NewVersionedAttributes(attr, matchKind, oi)
			if err != nil {
				configError(h, b.Name, fmt.Errorf("convert object version: %w", err))
				continue
			}
			var ns *corev1.Namespace
			if nsName := u.GetNamespace(); nsName != "" && !(gvk.Group == "" && gvk.Kind == "Namespace") {
				ns, err = m.GetNamespace(ctx, nsName)
				if err != nil && !apierrors.IsNotFound(err) {
					configError(h, b.Name, err)
					continue
				}
			}
			for _, param := range params {
				var p runtime.Object = param
				if p != nil && p.GetObjectKind().GroupVersionKind().Empty() {
					pu := &unstructured.Unstructured{}
					if c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p); err == nil {
						pu.Object = c
					}
					pu.SetAPIVersion(h.policy.Spec.ParamKind.APIVersion)
					pu.SetKind(h.policy.Spec.ParamKind.Kind)
					p = pu
				}
				res := h.validator.Validate(ctx, matchResource, va, p, ns, celconfig.RuntimeCELCostBudget, authz)
				for _, d := range res.Decisions {
					if d.Action != validating.ActionDeny {
						continue
					}
					for _, a := range b.Spec.ValidationActions {
						add(h.policy.Name, b.Name, Action(a), d.Message)
					}
				}
				for _, aa := range res.AuditAnnotations {
					if aa.Action == validating.AuditAnnotationActionError {
						add(h.policy.Name, b.Name, Deny, aa.Error)
					}
				}
			}
		}
	}
	return out
}

// DeniedMessage is how the apiserver words a ValidatingAdmissionPolicy denial
// of v (the text after the "is forbidden: " prefix).
func DeniedMessage(v Violation) string {
	if v.Policy == PodSecurity {
		return v.Message
	}
	if v.Binding == "" {
		return fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", v.Policy, v.Message)
	}
	return fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", v.Policy, v.Binding, v.Message)
}

// readsAnnotations reports whether a policy's CEL may read an object's
// annotations: it mentions "annotations", or "metadata" other than
// followed by .name, .namespace, .labels or .generateName (metadata as a
// whole, or indexed).
func readsAnnotations(policies []*admissionregistrationv1.ValidatingAdmissionPolicy) bool {
	for _, p := range policies {
		var exprs []string
		for _, v := range p.Spec.Validations {
			exprs = append(exprs, v.Expression, v.MessageExpression)
		}
		for _, v := range p.Spec.Variables {
			exprs = append(exprs, v.Expression)
		}
		for _, c := range p.Spec.MatchConditions {
			exprs = append(exprs, c.Expression)
		}
		for _, a := range p.Spec.AuditAnnotations {
			exprs = append(exprs, a.ValueExpression)
		}
		for _, e := range exprs {
			if strings.Contains(e, "annotations") {
				return true
			}
			for rest := e; ; {
				i := strings.Index(rest, "metadata")
				if i < 0 {
					break
				}
				rest = rest[i+len("metadata"):]
				ok := false
				for _, f := range []string{".name", ".namespace", ".labels", ".generateName"} {
					if strings.HasPrefix(rest, f) && (len(rest) == len(f) || !isIdent(rest[len(f)])) {
						ok = true
					}
				}
				if !ok {
					return true
				}
			}
		}
	}
	return false
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
