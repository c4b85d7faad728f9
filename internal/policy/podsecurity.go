package policy

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/version"
	psaadmission "k8s.io/pod-security-admission/admission"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// psaEvaluator checks pods and pod templates with the Pod Security
// Admission checks of one Kubernetes version.
type psaEvaluator struct {
	eval psapolicy.Evaluator
}

func (e *Evaluator) podSecurity(ver *version.Version) (*psaEvaluator, error) {
	key := ver.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.psa[key]; ok {
		return p, nil
	}
	emu := psaapi.MajorMinorVersion(int(ver.Major()), int(ver.Minor()))
	ev, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), &emu)
	if err != nil {
		return nil, fmt.Errorf("create pod security evaluator: %w", err)
	}
	p := &psaEvaluator{eval: ev}
	e.psa[key] = p
	return p, nil
}

// podSpecKinds are the kinds Pod Security Admission checks: Pods (enforced)
// and the workload kinds whose pod templates it checks (warn and audit).
var podSpecKinds = map[string]func() runtime.Object{
	"/Pod":                   func() runtime.Object { return &corev1.Pod{} },
	"/PodTemplate":           func() runtime.Object { return &corev1.PodTemplate{} },
	"/ReplicationController": func() runtime.Object { return &corev1.ReplicationController{} },
	"apps/ReplicaSet":        func() runtime.Object { return &appsv1.ReplicaSet{} },
	"apps/Deployment":        func() runtime.Object { return &appsv1.Deployment{} },
	"apps/DaemonSet":         func() runtime.Object { return &appsv1.DaemonSet{} },
	"apps/StatefulSet":       func() runtime.Object { return &appsv1.StatefulSet{} },
	"batch/Job":              func() runtime.Object { return &batchv1.Job{} },
	"batch/CronJob":          func() runtime.Object { return &batchv1.CronJob{} },
}

// evaluate applies the namespace's pod-security.kubernetes.io labels to o as
// Pod Security Admission does: a Pod violating the enforce level is denied
// ("violates PodSecurity ..."), otherwise a warn-level violation is a
// warning ("would violate PodSecurity ..."), and an audit-level violation is
// audited. Workloads are not denied by the apiserver, but their pods will
// be: a workload whose pod template violates the enforce level is reported
// as Deny with "pods would be denied: violates PodSecurity ...".
func (p *psaEvaluator) evaluate(o Object, namespaces map[string]*corev1.Namespace, cluster string) []Violation {
	u := o.Object
	gvk := u.GroupVersionKind()
	if gvk.Version != "v1" {
		return nil
	}
	mk, ok := podSpecKinds[gvk.Group+"/"+gvk.Kind]
	if !ok || u.GetNamespace() == "" {
		return nil
	}
	ns := namespaces[u.GetNamespace()]
	if ns == nil {
		return nil
	}
	nsPolicy, _ := psaapi.PolicyToEvaluate(ns.Labels, psaapi.Policy{
		Enforce: psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
		Audit:   psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
		Warn:    psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
	})
	if nsPolicy.FullyPrivileged() {
		return nil
	}
	typed := mk()
	add := func(vs []Violation, label string, action Action, msg string) []Violation {
		return append(vs, Violation{Cluster: cluster, App: o.App, APIVersion: u.GetAPIVersion(), Kind: gvk.Kind,
			Namespace: u.GetNamespace(), Name: u.GetName(), Policy: PodSecurity, Binding: label, Action: action, Message: msg})
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return add(nil, psaapi.EnforceLevelLabel, Deny, fmt.Sprintf("decode pod spec: %v", err))
	}
	meta, spec, err := psaadmission.DefaultPodSpecExtractor{}.ExtractPodSpec(typed)
	if err != nil || spec == nil {
		return nil
	}
	isPod := gvk.Group == "" && gvk.Kind == "Pod"
	var vs []Violation
	denied := false
	if r := psapolicy.AggregateCheckResults(p.eval.EvaluatePod(nsPolicy.Enforce, meta, spec)); !r.Allowed {
		msg := fmt.Sprintf("violates PodSecurity %q: %s", nsPolicy.Enforce.String(), r.ForbiddenDetail())
		if !isPod {
			msg = "pods would be denied: " + msg
		}
		vs = add(vs, psaapi.EnforceLevelLabel, Deny, msg)
		denied = isPod
	}
	if r := psapolicy.AggregateCheckResults(p.eval.EvaluatePod(nsPolicy.Audit, meta, spec)); !r.Allowed {
		vs = add(vs, psaapi.AuditLevelLabel, Audit, fmt.Sprintf("would violate PodSecurity %q: %s", nsPolicy.Audit.String(), r.ForbiddenDetail()))
	}
	if !denied {
		if r := psapolicy.AggregateCheckResults(p.eval.EvaluatePod(nsPolicy.Warn, meta, spec)); !r.Allowed {
			vs = add(vs, psaapi.WarnLevelLabel, Warn, fmt.Sprintf("would violate PodSecurity %q: %s", nsPolicy.Warn.String(), r.ForbiddenDetail()))
		}
	}
	return vs
}
