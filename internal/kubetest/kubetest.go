// Package kubetest starts real Kubernetes control planes for tests and local
// runs: etcd and kube-apiserver with RBAC and client-certificate
// authentication on free loopback ports, and — with Options.Workloads —
// kube-controller-manager, kube-scheduler and kwok with a Ready node, so
// that Deployments roll out, Pods become Ready, Jobs complete and namespaces
// are deleted as on a real cluster. kwok renews the node's Lease as a
// kubelet does, so the node stays Ready for as long as the cluster runs,
// and makes pods Ready again if the node was NotReady for a while (kwok
// frozen by a laptop's sleep).
//
// The binaries are built from Go modules by hack/tools/build.sh (make tools)
// into bin/. When they are missing, Start fails the test with the command
// that builds them; it never skips.
//
//	c := kubetest.Start(t, kubetest.Options{Name: "canary", Workloads: true})
//	client := kubernetes.NewForConfigOrDie(c.Config)
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// Options configures one control plane.
type Options struct {
	// Name is the cluster's name and its kubeconfig context name. Default:
	// "kubetest".
	Name string
	// Workloads adds kube-controller-manager, kube-scheduler and kwok with
	// one node that stays Ready: kwok renews its Lease in kube-node-lease.
	Workloads bool
	// BinDir holds the binaries. Default: $FLOTILLA_BIN, else bin/ at the
	// root of the module this runs in.
	BinDir string
	// Dir is where data, credentials and logs go. Default: a new temporary
	// directory, removed by Stop.
	Dir string
	// StartTimeout bounds the whole start. Default: 90s.
	StartTimeout time.Duration
	// NodeMonitorGracePeriod is how long kube-controller-manager lets the
	// node go without a heartbeat before it marks it NotReady and its pods
	// not ready. Default: 50s, the controller-manager's own default. Tests
	// shorten it to cross it quickly.
	NodeMonitorGracePeriod time.Duration
}

// DefaultNodeMonitorGracePeriod is kube-controller-manager's default
// --node-monitor-grace-period.
const DefaultNodeMonitorGracePeriod = 50 * time.Second

// Cluster is a running control plane.
type Cluster struct {
	Name string
	// Kubeconfig is the path of a kubeconfig whose only context, Name,
	// authenticates as a cluster admin with a client certificate.
	Kubeconfig string
	// Config is the same credentials as a client-go config.
	Config *rest.Config
	// Server is the apiserver's URL.
	Server string
	// StartDuration is how long Start took.
	StartDuration time.Duration

	dir     string
	ownsDir bool
	procs   []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Binaries are the programs a control plane needs, by name in BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}

// ErrBinariesMissing means the control plane has not been built.
var ErrBinariesMissing = errors.New("control-plane binaries missing")

// ErrStagesOutdated means bin/kwok-stages.yaml was written by an older
// hack/tools/build.sh and lacks a stage the clusters need to stay healthy.
var ErrStagesOutdated = errors.New("kwok stages outdated")

// Stages are the kwok stages a cluster with Workloads needs, by name: the
// node's start and its heartbeat alongside the Lease, and the pods' life,
// including Ready again after the node was NotReady.
var Stages = []string{"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-ready-restore", "pod-complete", "pod-delete"}

// RequireEnv names the variable that makes missing tools a test failure
// instead of a skip: `make test` sets it, so CI never passes by skipping,
// while a plain `go test ./...` on a fresh clone skips what needs them.
const RequireEnv = "FLOTILLA_REQUIRE_TOOLS"

// Unavailable reports whether err means the tools are not built (or their
// kwok stages are outdated): something `make tools` fixes.
func Unavailable(err error) bool {
	return errors.Is(err, ErrBinariesMissing) || errors.Is(err, ErrStagesOutdated)
}

// SkipUnavailable returns the message a test run prints when the tools are
// missing and RequireEnv is unset, and "" when err must fail the caller
// (any other error, or RequireEnv set).
func SkipUnavailable(err error) string {
	if err == nil || !Unavailable(err) || os.Getenv(RequireEnv) != "" {
		return ""
	}
	return "skipped: " + err.Error()
}

// Start starts a control plane and stops it when the test ends, printing
// its processes' logs if the test failed. It fails the test on any error,
// but skips it when the binaries are not built (see RequireEnv).
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	c, err := StartCluster(t.Context(), o)
	if msg := SkipUnavailable(err); msg != "" {
		t.Skip(msg)
	}
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubetest: logs of cluster %s:\n%s", c.Name, c.Logs(60))
		}
		c.Stop()
	})
	return c
}

// StartAll starts one control plane per Options at once and stops them
// when the test ends, as Start does for one. The skip or failure happens
// in the test's own goroutine (t.Skip and t.Fatal must not be called from
// another), after every start has returned.
func StartAll(t testing.TB, opts ...Options) []*Cluster {
	t.Helper()
	clusters := make([]*Cluster, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() { clusters[i], errs[i] = StartCluster(t.Context(), o) })
	}
	wg.Wait()
	for _, c := range clusters {
		if c == nil {
			continue
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("kubetest: logs of cluster %s:\n%s", c.Name, c.Logs(60))
			}
			c.Stop()
		})
	}
	for _, err := range errs {
		if msg := SkipUnavailable(err); msg != "" {
			t.Skip(msg)
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
	}
	return clusters
}

// StartCluster starts a control plane; the caller must Stop it.
func StartCluster(ctx context.Context, o Options) (c *Cluster, err error) {
	begin := time.Now()
	if o.Name == "" {
		o.Name = "kubetest"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.NodeMonitorGracePeriod <= 0 {
		o.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	bin, err := binDir(o.BinDir)
	if err != nil {
		return nil, err
	}
	c = &Cluster{Name: o.Name, dir: o.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "kubetest-"+o.Name+"-"); err != nil {
			return nil, err
		}
		c.ownsDir = true
	}
	defer func() {
		if err != nil {
			logs := c.Logs(30)
			c.Stop()
			err = fmt.Errorf("start cluster %s: %w\n%s", o.Name, err, logs)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	pki, err := writePKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return c, err
	}
	if err := c.startControlPlane(ctx, bin, o.Name, pki); err != nil {
		return c, err
	}
	if o.Workloads {
		if err := c.startWorkloads(ctx, bin, pki, o.NodeMonitorGracePeriod); err != nil {
			return c, err
		}
	}
	c.StartDuration = time.Since(begin)
	return c, nil
}

// RESTConfig loads a kubeconfig context with Flotilla's client settings.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 300
	return cfg, nil
}

// Bin returns the path of a binary built by `make tools` (kubectl, etcd…),
// or an error naming the command that builds it.
func Bin(name string) (string, error) {
	dir, err := binDir("")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// Tool returns the path of a binary built by `make tools` (kubectl, helm…)
// for a test, skipping the test when the tools are not built (see
// RequireEnv) and failing it on any other error.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := Bin(name)
	if err == nil {
		if _, serr := os.Stat(p); serr != nil {
			err = fmt.Errorf("%w: %s: build it with `make tools` (hack/tools/build.sh)", ErrBinariesMissing, p)
		}
	}
	if msg := SkipUnavailable(err); msg != "" {
		t.Skip(msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func binDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("FLOTILLA_BIN")
	}
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin")
	}
	var missing []string
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w in %s (%s): build them with `make tools` (hack/tools/build.sh; cold ≈ 6 min)", ErrBinariesMissing, dir, strings.Join(missing, ", "))
	}
	if err := checkStages(filepath.Join(dir, "kwok-stages.yaml")); err != nil {
		return "", err
	}
	return dir, nil
}

// checkStages fails when a kwok stages file lacks one of Stages.
func checkStages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	have := map[string]bool{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read kwok stages %s: %w", path, err)
		}
		var stage struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &stage); err != nil {
			return fmt.Errorf("read kwok stages %s: %w", path, err)
		}
		if stage.Kind == "Stage" {
			have[stage.Metadata.Name] = true
		}
	}
	var missing []string
	for _, name := range Stages {
		if !have[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s lacks %s, without which the node goes NotReady or its pods stay not ready: rewrite it with `make tools` (it rebuilds nothing that is there)", ErrStagesOutdated, path, strings.Join(missing, ", "))
	}
	return nil
}

// moduleRoot finds the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: set FLOTILLA_BIN")
		}
		dir = parent
	}
}

// bindAttempts bounds how often startControlPlane picks new ports after
// one it found free was taken before etcd or kube-apiserver bound it.
const bindAttempts = 5

// startControlPlane starts etcd and kube-apiserver on free loopback ports
// and waits until the apiserver is ready. A port found free is closed again
// before the component binds it, and another process can take it in
// between (a test binary starting its own clusters, or any outgoing
// connection when the port is in the ephemeral range): when a component
// exits because its address is in use, it stops what it started and tries
// again on new ports, up to bindAttempts times.
func (c *Cluster) startControlPlane(ctx context.Context, bin, name string, pki *pki) error {
	for attempt := 1; ; attempt++ {
		err := c.startControlPlaneOnce(ctx, bin, name, pki)
		if err == nil || attempt == bindAttempts || !c.addressInUse() {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (attempt %d of %d: the earlier ones found their port taken)", err, attempt, bindAttempts)
			}
			return err
		}
		c.stopProcesses()
		if err := os.RemoveAll(filepath.Join(c.dir, "etcd")); err != nil {
			return err
		}
	}
}

// pickPorts is freePorts; a test replaces it to hand out a taken port.
var pickPorts = freePorts

func (c *Cluster) startControlPlaneOnce(ctx context.Context, bin, name string, pki *pki) error {
	ports, err := pickPorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	if err := c.start("etcd", filepath.Join(bin, "etcd"),
		"--name=default", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.start("kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount", "--allow-privileged=true",
		"--profiling=false", "--v=0",
	); err != nil {
		return err
	}

	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, name, c.Server, pki); err != nil {
		return err
	}
	if c.Config, err = RESTConfig(c.Kubeconfig, name); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// addressInUse reports whether a process that exited said its address was
// in use. The components report it only in their logs, as Go's EADDRINUSE
// text ("bind: address already in use").
func (c *Cluster) addressInUse() bool {
	for _, p := range c.procs {
		select {
		case <-p.done:
		default:
			continue
		}
		data, err := os.ReadFile(p.log)
		if err == nil && bytes.Contains(data, []byte(syscall.EADDRINUSE.Error())) {
			return true
		}
	}
	return false
}

// freePorts returns n loopback ports that were free a moment ago. It
// prefers ports below the kernel's ephemeral range, which outgoing
// connections (every apiserver's to its etcd) never take, and falls back
// to ports the kernel picks.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	low, high := belowEphemeral()
	var ports []int
	for tries := 0; len(ports) < n && high > low && tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(low+rand.IntN(high-low)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// belowEphemeral returns a range of ports [low, high) under the kernel's
// ephemeral range (net.ipv4.ip_local_port_range, 32768 by default), or an
// empty range when that cannot be read or leaves too little room.
func belowEphemeral() (low, high int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start < 12000 {
		return 0, 0
	}
	return 10000, start
}

func (c *Cluster) start(name, path string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop ends it and only it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return nil
}

// waitReady polls /readyz until it answers ok, failing early when a
// process exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		// Each probe is short: when another process holds the port, the
		// handshake would hang until the transport's 10s timeout, while
		// the apiserver that could not bind has long exited.
		probe, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(probe)
		return err == nil && string(body) == "ok", nil
	})
}

func (c *Cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
	}
	return nil
}

// NodeName is the name of the kwok node of a cluster started with
// Workloads.
const NodeName = "kwok-node-0"

func (c *Cluster) startWorkloads(ctx context.Context, bin string, pki *pki, grace time.Duration) error {
	if err := c.start("kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--node-monitor-grace-period="+grace.String(), "--node-monitor-period="+max(grace/10, time.Second).String(),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caCert,
		"--use-service-account-credentials=false", "--kube-api-qps=100", "--kube-api-burst=200",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--v=0",
	); err != nil {
		return err
	}
	if err := c.start("kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--v=0",
	); err != nil {
		return err
	}
	// kwok renews the node's Lease in kube-node-lease as a kubelet does:
	// lasting four fifths of the grace period (40s for 50s, the kubelet's
	// default), renewed every quarter of that. Without it the node is
	// NotReady as soon as a grace period passes after its last status
	// update, and the controller-manager marks its pods not ready.
	leaseSeconds := max(int(grace*4/5/time.Second), 1)
	if err := c.start("kwok", filepath.Join(bin, "kwok"),
		"--kubeconfig="+c.Kubeconfig, "--manage-all-nodes=true",
		"--node-lease-duration-seconds="+strconv.Itoa(leaseSeconds),
		"--config="+filepath.Join(bin, "kwok-stages.yaml"),
	); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{"cpu": mustQuantity("64"), "memory": mustQuantity("256Gi"), "pods": mustQuantity("1000")},
			Capacity:    corev1.ResourceList{"cpu": mustQuantity("64"), "memory": mustQuantity("256Gi"), "pods": mustQuantity("1000")},
		},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	// Ready means kwok marked the node Ready and no not-ready taint is
	// left; the taint is removed here in case the node-lifecycle
	// controller has not done it yet.
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		n, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
		}
		if !ready {
			return false, nil
		}
		if len(n.Spec.Taints) > 0 {
			n.Spec.Taints = nil
			_, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return false, ignoreConflict(err)
		}
		return true, nil
	})
}

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// Stop stops the cluster's processes (only those it started: each runs in
// its own process group) and removes its directory if Start made it.
// Calling Stop twice is harmless.
func (c *Cluster) Stop() {
	c.stopProcesses()
	if c.ownsDir && c.dir != "" {
		os.RemoveAll(c.dir)
		c.dir = ""
	}
}

// stopProcesses ends the cluster's processes, the last started first.
func (c *Cluster) stopProcesses() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	c.procs = nil
}

// Logs returns the last lines of each process's log.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, p := range c.procs {
		data, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", p.name, p.log, strings.Join(all, "\n"))
	}
	return b.String()
}

// RSS returns the resident memory of the cluster's processes in bytes, by
// process name, read from /proc.
func (c *Cluster) RSS() map[string]int64 {
	out := map[string]int64{}
	for _, p := range c.procs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				out[p.name] = kb * 1024
			}
		}
	}
	return out
}

// WriteKubeconfig writes one kubeconfig holding a context per cluster, each
// named after its cluster.
func WriteKubeconfig(path string, clusters ...*Cluster) error {
	merged := clientcmdapi.NewConfig()
	for _, c := range clusters {
		cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			return err
		}
		for k, v := range cfg.Clusters {
			merged.Clusters[k] = v
		}
		for k, v := range cfg.AuthInfos {
			merged.AuthInfos[k] = v
		}
		for k, v := range cfg.Contexts {
			merged.Contexts[k] = v
		}
		if merged.CurrentContext == "" {
			merged.CurrentContext = c.Name
		}
	}
	return clientcmd.WriteToFile(*merged, path)
}

func writeKubeconfig(path, name, server string, p *pki) error {
	caData, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	certData, err := os.ReadFile(p.adminCert)
	if err != nil {
		return err
	}
	keyData, err := os.ReadFile(p.adminKey)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos[name+"-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certData, ClientKeyData: keyData}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name + "-admin"}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}
