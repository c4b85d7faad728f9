package kubetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/kube"
)

// TestLocalClusterStaysHealthy leaves a cluster running across several
// node-monitor grace periods of kube-controller-manager (shortened to 10s
// here; 50s by default) with a Deployment of three replicas, and checks that
// the node never stopped being Ready, that its Lease in kube-node-lease is
// being renewed, that no pod was ever marked not ready, and that Flotilla's
// verify still reports the app Synced and Healthy. Then it freezes kwok (as
// a laptop's sleep or a starved machine does) until the controller-manager
// marks the node NotReady and its pods not ready, thaws it, and checks that
// node and pods come back by themselves and verify reports Healthy again.
func TestLocalClusterStaysHealthy(t *testing.T) {
	const grace = 10 * time.Second
	c := Start(t, Options{Name: "steady", Workloads: true, NodeMonitorGracePeriod: grace})
	ctx := t.Context()
	client := kubernetes.NewForConfigOrDie(c.Config)
	kc, err := kube.NewClient(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	app := webApp(t)
	res, err := kc.Apply(ctx, app, kube.Options{})
	if err != nil || res.Error != "" {
		t.Fatalf("apply: %v %s", err, res.Error)
	}
	if st := waitVerified(ctx, kc, app, time.Minute); st.Health != kube.Healthy {
		t.Fatalf("after apply: verify reports %s %s: %s", st.Sync, st.Health, st.Message)
	}
	// A node without a lease heartbeats through its status only.
	lease0, _ := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, NodeName, metav1.GetOptions{})

	t.Run("stays healthy past the grace period", func(t *testing.T) {
		begin := time.Now()
		problems := watchHealth(ctx, client, 3*grace)
		for _, p := range problems {
			t.Errorf("during %s: %s", 3*grace, p)
		}
		lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, NodeName, metav1.GetOptions{})
		switch {
		case err != nil:
			t.Errorf("node %s has no lease: %v", NodeName, err)
		case lease0 == nil:
			t.Errorf("node %s had no lease before the wait", NodeName)
		case lease.Spec.RenewTime == nil || lease0.Spec.RenewTime == nil || !lease.Spec.RenewTime.After(lease0.Spec.RenewTime.Time) || lease.Spec.RenewTime.Before(&metav1.MicroTime{Time: begin.Add(2 * grace)}):
			t.Errorf("lease not renewed: renewed at %v, before the wait at %v, the wait began at %v", lease.Spec.RenewTime, lease0.Spec.RenewTime, begin)
		}
		if msg := nodeProblem(ctx, client); msg != "" {
			t.Errorf("after %s: %s", 3*grace, msg)
		}
		st, err := kc.Verify(ctx, app, kube.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Sync != kube.Synced || st.Health != kube.Healthy {
			t.Errorf("after %s: verify reports %s %s: %s", 3*grace, st.Sync, st.Health, st.Message)
		}
	})

	t.Run("recovers after the node was lost", func(t *testing.T) {
		kwok := c.procs[slices.IndexFunc(c.procs, func(p *process) bool { return p.name == "kwok" })]
		if err := syscall.Kill(-kwok.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		cont := sync.OnceFunc(func() { _ = syscall.Kill(-kwok.cmd.Process.Pid, syscall.SIGCONT) })
		defer cont()
		// The controller-manager marks the node NotReady and then its
		// pods not ready: wait for both, so recovery is really tested.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*grace, true, func(ctx context.Context) (bool, error) {
			return nodeProblem(ctx, client) != "" && podProblem(ctx, client) != "", nil
		})
		if err != nil {
			t.Fatalf("node and pods still ready with kwok frozen for %s: %v", 3*grace, err)
		}
		cont()
		lost := time.Now()
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*grace, true, func(ctx context.Context) (bool, error) {
			if nodeProblem(ctx, client) != "" || podProblem(ctx, client) != "" {
				return false, nil
			}
			st, err := kc.Verify(ctx, app, kube.Options{})
			return err == nil && st.Sync == kube.Synced && st.Health == kube.Healthy, nil
		})
		if err != nil {
			msg := "verify failed"
			if st, err := kc.Verify(ctx, app, kube.Options{}); err == nil {
				msg = fmt.Sprintf("verify reports %s %s: %s", st.Sync, st.Health, st.Message)
			}
			t.Fatalf("not recovered %s after kwok resumed: %s; %s; %s", 3*grace, nodeProblem(ctx, client), podProblem(ctx, client), msg)
		}
		t.Logf("node, pods and verify healthy again %s after kwok resumed", time.Since(lost).Round(100*time.Millisecond))
	})
}

func webApp(t *testing.T) kube.App {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
`), &obj); err != nil {
		t.Fatal(err)
	}
	return kube.App{
		Name: "web", Namespace: "demo", CreateNamespace: true, Commit: "0123456789abcdef0123456789abcdef01234567",
		Objects: []*unstructured.Unstructured{{Object: obj}},
	}
}

// waitVerified polls verify until the app is Synced and Healthy or the
// timeout passes, and returns the last status.
func waitVerified(ctx context.Context, kc *kube.Client, app kube.App, timeout time.Duration) *kube.AppStatus {
	st := &kube.AppStatus{Sync: "not verified", Health: "unknown"}
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		s, err := kc.Verify(ctx, app, kube.Options{})
		if err != nil {
			st.Message = err.Error()
			return false, nil
		}
		st = s
		return st.Sync == kube.Synced && st.Health == kube.Healthy, nil
	})
	return st
}

// watchHealth watches the node and the pods of namespace demo for d and
// returns every change that made the node or a pod not Ready, or tainted
// the node. A watch sees every change, so a NotReady that kwok reverts at
// once is caught too.
func watchHealth(ctx context.Context, client kubernetes.Interface, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	record := func(p string) {
		if p != "" {
			mu.Lock()
			problems = append(problems, time.Now().Format("15:04:05.000")+" "+p)
			mu.Unlock()
		}
	}
	nodes := func(rv string) (watch.Interface, error) {
		return client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", NodeName).String(), ResourceVersion: rv})
	}
	pods := func(rv string) (watch.Interface, error) {
		return client.CoreV1().Pods("demo").Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	}
	nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	podList, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		follow(ctx, nodeList.ResourceVersion, nodes, func(e watch.Event) {
			if n, ok := e.Object.(*corev1.Node); ok {
				record(nodeHealth(n))
			}
		}, record)
	})
	wg.Go(func() {
		follow(ctx, podList.ResourceVersion, pods, func(e watch.Event) {
			if p, ok := e.Object.(*corev1.Pod); ok && e.Type != watch.Deleted {
				record(podHealth(p))
			} else if ok {
				record(fmt.Sprintf("pod %s deleted", p.Name))
			}
		}, record)
	})
	wg.Wait()
	return problems
}

// follow runs a watch from resource version rv until ctx ends, resuming it
// from the last version seen when the server closes it.
func follow(ctx context.Context, rv string, start func(rv string) (watch.Interface, error), handle func(watch.Event), fail func(string)) {
	for ctx.Err() == nil {
		w, err := start(rv)
		if err != nil {
			if ctx.Err() == nil {
				fail("watch: " + err.Error())
			}
			return
		}
		for e := range w.ResultChan() {
			if e.Type == watch.Error {
				fail(fmt.Sprintf("watch error: %v", e.Object))
				continue
			}
			if m, err := meta.Accessor(e.Object); err == nil {
				rv = m.GetResourceVersion()
			}
			handle(e)
		}
		w.Stop()
	}
}

// nodeHealth says what is wrong with the node, or "".
func nodeHealth(n *corev1.Node) string {
	ready := corev1.ConditionUnknown
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status
		}
	}
	if ready != corev1.ConditionTrue {
		return fmt.Sprintf("node %s Ready=%s", n.Name, ready)
	}
	for _, taint := range n.Spec.Taints {
		return fmt.Sprintf("node %s tainted %s:%s", n.Name, taint.Key, taint.Effect)
	}
	return ""
}

// podHealth says what is wrong with a pod, or "".
func podHealth(p *corev1.Pod) string {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return ""
		}
	}
	return fmt.Sprintf("pod %s not Ready (phase %s)", p.Name, p.Status.Phase)
}

func nodeProblem(ctx context.Context, client kubernetes.Interface) string {
	n, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	return nodeHealth(n)
}

// podProblem says what is wrong with the pods of namespace demo: fewer
// than three, or one not Ready.
func podProblem(ctx context.Context, client kubernetes.Interface) string {
	pods, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	if len(pods.Items) != 3 {
		return fmt.Sprintf("%d pods, want 3", len(pods.Items))
	}
	for i := range pods.Items {
		if msg := podHealth(&pods.Items[i]); msg != "" {
			return msg
		}
	}
	return ""
}
