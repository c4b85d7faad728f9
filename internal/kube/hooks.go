package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/flotilla-dev/flotilla/internal/kube/normalize"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// Hooks are marked as an app's by a label, never by the ApplySet's: they
// are not in the inventory and prune never sees them; their deletion
// policy governs them.
const (
	// LabelHookOf holds the app's ApplySet id on each hook it created.
	LabelHookOf = "flotilla.dev/hook-of"
	// AnnotationHookKey names the hook a live object was created from:
	// Kind/namespace/name, or the generateName followed by "*".
	AnnotationHookKey = "flotilla.dev/hook"
)

// ErrHookFailed means a hook ended in failure (or never finished), which
// fails its phase.
var ErrHookFailed = errors.New("hook failed")

// hookRun is one hook started in one phase.
type hookRun struct {
	hook  *unstructured.Unstructured // as sent
	phase syncplan.Phase
	ri    dynamic.ResourceInterface
	name  string // the created object's name
	uid   string
	index int // its result in Result.Objects
}

// startHook creates a hook: earlier instances deleted first under
// BeforeHookCreation (the default), a generateName hook created (never
// applied), a named one applied. It is labelled as the app's hook and
// never carries the ApplySet label.
func (c *Client) startHook(ctx context.Context, h *unstructured.Unstructured, phase syncplan.Phase, id string, o Options) (*hookRun, ObjectResult) {
	key := order.ID(h)
	fail := func(format string, args ...any) (*hookRun, ObjectResult) {
		return nil, ObjectResult{key, Failed, fmt.Sprintf("%s hook: ", phase) + fmt.Sprintf(format, args...)}
	}
	u := h.DeepCopy()
	normalize.Object(u)
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	delete(labels, LabelPartOf)
	labels[LabelHookOf] = id
	u.SetLabels(labels)
	annotations := u.GetAnnotations()
	annotations[AnnotationHookKey] = key
	u.SetAnnotations(annotations)
	ri, _, err := c.resource(u)
	if err != nil {
		return fail("%v", err)
	}
	if o.DryRun {
		return nil, ObjectResult{key, Skipped, fmt.Sprintf("dry run: runs as a %s hook", phase)}
	}
	if syncplan.HasPolicy(h, syncplan.BeforeHookCreation) {
		if err := c.deleteHookInstances(ctx, ri, id, key, o.Timeout); err != nil {
			return fail("%v", err)
		}
	}
	var out *unstructured.Unstructured
	if u.GetName() == "" {
		out, err = ri.Create(ctx, u, metav1.CreateOptions{FieldManager: FieldManager})
	} else {
		live, gerr := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case gerr == nil && live.GetLabels()[LabelHookOf] != id:
			return fail("%s exists and is not a hook of this app: refusing to take it over (rename the hook or delete the object)", key)
		case gerr != nil && !kerrors.IsNotFound(gerr):
			return fail("%v", gerr)
		}
		out, err = applyPatch(ctx, ri, u, false, o.appOpts.For(h))
	}
	if err != nil {
		return fail("%v", err)
	}
	return &hookRun{hook: h, phase: phase, ri: ri, name: out.GetName(), uid: string(out.GetUID())},
		ObjectResult{ObjectID(out), Created, fmt.Sprintf("%s hook", phase)}
}

// deleteHookInstances deletes the app's live instances of a hook (same
// key: for a generateName hook every earlier run) and waits until they
// are gone.
func (c *Client) deleteHookInstances(ctx context.Context, ri dynamic.ResourceInterface, id, key string, timeout time.Duration) error {
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: LabelHookOf + "=" + id})
	if err != nil {
		return fmt.Errorf("list earlier instances of %s: %w", key, err)
	}
	for _, live := range list.Items {
		if live.GetAnnotations()[AnnotationHookKey] != key {
			continue
		}
		if err := deleteAndWait(ctx, ri, &live, timeout); err != nil {
			return fmt.Errorf("delete %s before creating the hook again (BeforeHookCreation): %w", ObjectID(&live), err)
		}
	}
	return nil
}

// deleteAndWait deletes live (uid precondition, background propagation)
// and waits until it is gone.
func deleteAndWait(ctx context.Context, ri resourceClient, live *unstructured.Unstructured, timeout time.Duration) error {
	bg := metav1.DeletePropagationBackground
	uid := live.GetUID()
	err := ri.Delete(ctx, live.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !kerrors.IsNotFound(err) && !kerrors.IsConflict(err) {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := ri.Get(ctx, live.GetName(), metav1.GetOptions{})
		if kerrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && cur.GetUID() != uid, nil
	})
}

// hookState is where a running hook is.
type hookState int

const (
	hookRunning hookState = iota
	hookSucceeded
	hookFailed
)

// hookStatus reads a hook's state as Argo CD does: a Pod by its phase,
// anything else by its health (a Job is healthy only when Complete).
// A failure's message carries the Job's or Pod's reason.
func (c *Client) hookStatus(ctx context.Context, live *unstructured.Unstructured) (hookState, string) {
	gk := live.GroupVersionKind().GroupKind()
	if gk.Group == "" && gk.Kind == "Pod" {
		switch phase, _, _ := unstructured.NestedString(live.Object, "status", "phase"); phase {
		case "Succeeded":
			return hookSucceeded, ""
		case "Failed":
			return hookFailed, podReason(live)
		}
		return hookRunning, ""
	}
	if gk.Group == "batch" && gk.Kind == "Job" {
		for _, cond := range conditions(live) {
			if cond["type"] == "Failed" && cond["status"] == "True" {
				msg := joinNonEmpty(": ", str(cond["reason"]), str(cond["message"]))
				if pods := c.failedPods(ctx, live); pods != "" {
					msg += "; " + pods
				}
				return hookFailed, msg
			}
		}
	}
	switch h, msg := HealthOf(live); h {
	case Healthy:
		return hookSucceeded, ""
	case Degraded:
		return hookFailed, msg
	}
	return hookRunning, ""
}

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// failedPods names a Job's failed Pods with their reasons.
func (c *Client) failedPods(ctx context.Context, job *unstructured.Unstructured) string {
	list, err := c.Dynamic.Resource(podGVR).Namespace(job.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(job.GetUID())})
	if err != nil {
		return ""
	}
	var out []string
	for i := range list.Items {
		p := &list.Items[i]
		if phase, _, _ := unstructured.NestedString(p.Object, "status", "phase"); phase == "Failed" {
			out = append(out, "pod "+p.GetName()+": "+podReason(p))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// podReason is a failed Pod's reason: its own, else its containers'
// (terminated reason, exit code, message).
func podReason(p *unstructured.Unstructured) string {
	reason, _, _ := unstructured.NestedString(p.Object, "status", "reason")
	message, _, _ := unstructured.NestedString(p.Object, "status", "message")
	if r := joinNonEmpty(": ", reason, message); r != "" {
		return r
	}
	statuses, _, _ := unstructured.NestedSlice(p.Object, "status", "containerStatuses")
	var out []string
	for _, s := range statuses {
		m, _ := s.(map[string]any)
		term, _, _ := unstructured.NestedMap(m, "state", "terminated")
		if term == nil {
			continue
		}
		code, _, _ := unstructured.NestedInt64(term, "exitCode")
		out = append(out, fmt.Sprintf("container %s: %s", str(m["name"]),
			joinNonEmpty(": ", joinNonEmpty(" ", str(term["reason"]), fmt.Sprintf("(exit code %d)", code)), str(term["message"]))))
	}
	if len(out) == 0 {
		return "Pod failed"
	}
	return strings.Join(out, "; ")
}

func conditions(u *unstructured.Unstructured) []map[string]any {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []map[string]any
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// finishHook applies a finished hook's deletion policy.
func (c *Client) finishHook(ctx context.Context, run *hookRun, state hookState, timeout time.Duration) string {
	policy := syncplan.HookSucceeded
	if state == hookFailed {
		policy = syncplan.HookFailed
	}
	if !syncplan.HasPolicy(run.hook, policy) {
		return ""
	}
	live, err := run.ri.Get(ctx, run.name, metav1.GetOptions{})
	if kerrors.IsNotFound(err) {
		return ""
	}
	if err == nil && string(live.GetUID()) == run.uid {
		err = deleteAndWait(ctx, run.ri, live, timeout)
	}
	if err != nil {
		return fmt.Sprintf("; delete (%s): %v", policy, err)
	}
	return fmt.Sprintf("; deleted (%s)", policy)
}
