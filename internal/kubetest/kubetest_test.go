package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestFleetOfThree starts three clusters side by side, rolls a Deployment
// out on each, deletes a namespace on one, and checks that one merged
// kubeconfig reaches every cluster by its context name through kubectl.
func TestFleetOfThree(t *testing.T) {
	names := []string{"canary", "early", "general"}
	clusters := make([]*Cluster, len(names))
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = StartCluster(t.Context(), Options{Name: name, Workloads: true})
		}()
	}
	wg.Wait()
	for i, c := range clusters {
		if c != nil {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("logs of %s:\n%s", c.Name, c.Logs(40))
				}
				c.Stop()
			})
		}
		if msg := SkipUnavailable(errs[i]); msg != "" {
			t.Skip(msg)
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	for _, c := range clusters {
		var total int64
		for _, b := range c.RSS() {
			total += b
		}
		t.Logf("cluster %s: started in %s (three at once on this machine), %d MiB resident", c.Name, c.StartDuration.Round(10*time.Millisecond), total>>20)
	}

	t.Run("deployment becomes available on every cluster", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, len(clusters))
		for i, c := range clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = rollOut(t.Context(), c)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("namespace deletion completes", func(t *testing.T) {
		ctx := t.Context()
		client := kubernetes.NewForConfigOrDie(clusters[0].Config)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "doomed"}, Data: map[string]string{"k": "v"}}
		if _, err := client.CoreV1().ConfigMaps("doomed").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("namespace doomed still exists: %v", err)
		}
	})

	t.Run("kubectl reaches each cluster by context", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "fleet.kubeconfig")
		if err := WriteKubeconfig(kubeconfig, clusters...); err != nil {
			t.Fatal(err)
		}
		bin, err := binDir("")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clusters {
			out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kubeconfig, "--context", c.Name,
				"get", "deployment", "web", "-n", "demo", "-o", "jsonpath={.status.availableReplicas} {.metadata.namespace}").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "3 demo" {
				t.Errorf("kubectl --context %s: %q, %v", c.Name, out, err)
			}
		}
	})
}

func rollOut(ctx context.Context, c *Cluster) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("demo").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	var last *appsv1.Deployment
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		last, err = client.AppsV1().Deployments("demo").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range last.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && last.Status.AvailableReplicas == 3 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("cluster %s: deployment not available: %v (status %+v)", c.Name, err, last.Status)
	}
	return nil
}

func TestMissingBinariesFailWithTheBuildCommand(t *testing.T) {
	t.Parallel()
	_, err := StartCluster(t.Context(), Options{BinDir: t.TempDir()})
	if !errors.Is(err, ErrBinariesMissing) || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("got %v, want ErrBinariesMissing naming `make tools`", err)
	}
}

// TestOutdatedStagesFailWithTheBuildCommand attacks the stages check: a
// stages file from before the node Lease and pod restore (the four stages
// build.sh used to write), a name on a kind that is not a Stage, and
// broken YAML are refused; only the full set passes.
func TestOutdatedStagesFailWithTheBuildCommand(t *testing.T) {
	t.Parallel()
	stage := func(kind, name string) string {
		return fmt.Sprintf("---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: %s\nmetadata:\n  name: %s\nspec: {}\n", kind, name)
	}
	all := ""
	for _, name := range Stages {
		all += stage("Stage", name)
	}
	old := stage("Stage", "node-initialize") + stage("Stage", "pod-ready") + stage("Stage", "pod-complete") + stage("Stage", "pod-delete")
	for _, tc := range []struct {
		name, stages string
		want         error
		missing      string
	}{
		{"complete", all, nil, ""},
		{"before the lease", old, ErrStagesOutdated, "node-heartbeat-with-lease, pod-ready-restore"},
		{"not a stage", strings.Replace(all, stage("Stage", "pod-ready-restore"), stage("ClusterResourceUsage", "pod-ready-restore"), 1), ErrStagesOutdated, "pod-ready-restore"},
		{"empty", "", ErrStagesOutdated, strings.Join(Stages, ", ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, b := range Binaries {
				if err := os.WriteFile(filepath.Join(dir, b), nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "kwok-stages.yaml"), []byte(tc.stages), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := binDir(dir)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && (!strings.Contains(err.Error(), "lacks "+tc.missing+",") || !strings.Contains(err.Error(), "make tools")) {
				t.Errorf("%v: does not name %q and `make tools`", err, tc.missing)
			}
		})
	}
	t.Run("broken yaml", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "stages.yaml")
		if err := os.WriteFile(path, []byte(all+"---\nkind: [\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkStages(path); err == nil || errors.Is(err, ErrStagesOutdated) || !strings.Contains(err.Error(), path) {
			t.Fatalf("got %v, want a read error naming %s", err, path)
		}
	})
}

// TestSkipUnavailable: missing tools skip a plain `go test`, but fail
// `make test` (RequireEnv set), and no other error is ever a skip.
func TestSkipUnavailable(t *testing.T) {
	missing := fmt.Errorf("%w in /x: build them with `make tools`", ErrBinariesMissing)
	outdated := fmt.Errorf("%w: rewrite it with `make tools`", ErrStagesOutdated)
	for _, tc := range []struct {
		name    string
		err     error
		require string
		skip    bool
	}{
		{"missing", missing, "", true},
		{"outdated stages", outdated, "", true},
		{"missing under make test", missing, "1", false},
		{"another error", errors.New("etcd did not start"), "", false},
		{"no error", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.require)
			msg := SkipUnavailable(tc.err)
			if (msg != "") != tc.skip {
				t.Fatalf("SkipUnavailable(%v) with %s=%q = %q, want skip %v", tc.err, RequireEnv, tc.require, msg, tc.skip)
			}
			if tc.skip && !strings.Contains(msg, "make tools") {
				t.Errorf("skip message %q does not name `make tools`", msg)
			}
		})
	}
}

// TestTakenPortIsPickedAgain: a port found free can be taken before
// kube-apiserver binds it (CI saw it: another test's connection took the
// port between the check and the bind). Start picks new ports and the
// cluster comes up; when every attempt finds its port taken, the error
// says so. Not parallel: it replaces pickPorts.
func TestTakenPortIsPickedAgain(t *testing.T) {
	if _, err := binDir(""); SkipUnavailable(err) != "" {
		t.Skip(SkipUnavailable(err))
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	withTaken := func(n int) ([]int, error) {
		ports, err := freePorts(n)
		if err == nil {
			ports[n-1] = takenPort // the apiserver's
		}
		return ports, err
	}
	defer func(orig func(int) ([]int, error)) { pickPorts = orig }(pickPorts)

	t.Run("once", func(t *testing.T) {
		calls := 0
		pickPorts = func(n int) ([]int, error) {
			calls++
			if calls == 1 {
				return withTaken(n)
			}
			return freePorts(n)
		}
		c, err := StartCluster(t.Context(), Options{Name: "taken"})
		if err != nil {
			t.Fatalf("start with a taken port: %v", err)
		}
		defer c.Stop()
		if calls != 2 {
			t.Errorf("ports picked %d times, want 2", calls)
		}
		if strings.HasSuffix(c.Server, ":"+strconv.Itoa(takenPort)) {
			t.Errorf("server %s is on the taken port", c.Server)
		}
		client := kubernetes.NewForConfigOrDie(c.Config)
		if _, err := client.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("cluster started on a second attempt does not answer: %v", err)
		}
	})
	t.Run("always", func(t *testing.T) {
		calls := 0
		pickPorts = func(n int) ([]int, error) { calls++; return withTaken(n) }
		c, err := StartCluster(t.Context(), Options{Name: "always-taken"})
		if err == nil {
			c.Stop()
			t.Fatal("started although every attempt's port was taken")
		}
		if calls != bindAttempts || !strings.Contains(err.Error(), fmt.Sprintf("attempt %d of %d", bindAttempts, bindAttempts)) || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("%d attempts, error %v: want %d attempts and an error saying the address was in use on each", calls, err, bindAttempts)
		}
	})
}
