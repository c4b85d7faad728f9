package failure

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type inputErr struct{}

func (inputErr) Error() string       { return "bad file" }
func (inputErr) FailureClass() Class { return Input }

func TestClassOf(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	netErr := &url.Error{Op: "Get", URL: "https://example.invalid", Err: &net.DNSError{Err: "no such host", Name: "example.invalid", IsNotFound: true}}
	for _, tc := range []struct {
		name string
		err  error
		want Class
		code int
	}{
		{"plain", errors.New("boom"), Failed, ExitFailed},
		{"usage", Usagef("unexpected argument %q", "x"), Usage, ExitUsage},
		{"input", Inputf("flotilla.yaml: bad"), Input, ExitUsage},
		{"declared, wrapped", fmt.Errorf("load: %w", inputErr{}), Input, ExitUsage},
		{"marked remote", Mark(Remote, errors.New("push refused")), Remote, ExitRemote},
		{"marked conflict", fmt.Errorf("publish: %w", Mark(Conflict, errors.New("lost race"))), Conflict, ExitRemote},
		{"network", fmt.Errorf("fetch: %w", netErr), Remote, ExitRemote},
		{"dial refused", fmt.Errorf("push: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), Remote, ExitRemote},
		// syscall.Errno has Timeout and Temporary: a missing file must
		// not read as a remote's failure.
		{"file errno", fmt.Errorf("kustomize build: %w", &fs.PathError{Op: "lstat", Path: "missing.yaml", Err: syscall.ENOENT}), Failed, ExitFailed},
		{"canceled", fmt.Errorf("render: %w", context.Canceled), Canceled, ExitFailed},
		{"our deadline", fmt.Errorf("wave 2: %w", context.DeadlineExceeded), Failed, ExitFailed},
		{"request deadline", &url.Error{Op: "Get", URL: "https://api:6443/x", Err: context.DeadlineExceeded}, Remote, ExitRemote},
		{"canceled request", &url.Error{Op: "Patch", URL: "https://api:6443/x", Err: context.Canceled}, Canceled, ExitFailed},
		{"canceled, marked remote", Mark(Remote, fmt.Errorf("list pulls: %w", context.Canceled)), Canceled, ExitFailed},
		{"api invalid", apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web", nil), Failed, ExitFailed},
		{"api conflict", apierrors.NewConflict(gr, "web", errors.New("modified")), Conflict, ExitRemote},
		{"api unavailable", fmt.Errorf("apply: %w", apierrors.NewServiceUnavailable("etcd")), Remote, ExitRemote},
		{"apply field conflict", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonConflict,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl"`, Field: ".spec.replicas"}}}}}, Failed, ExitFailed},
		{"api forbidden", apierrors.NewForbidden(gr, "web", errors.New("rbac")), Failed, ExitFailed},
		{"api 503 unknown", apierrors.NewGenericServerResponse(503, "get", gr, "web", "", 0, false), Remote, ExitRemote},
		// The outer mark wins over what it wraps: the package that knows
		// more decided.
		{"mark over network", Mark(Input, netErr), Input, ExitUsage},
		// A joined error takes the class of its first classified part.
		{"joined", errors.Join(errors.New("plain"), inputErr{}, Mark(Remote, errors.New("x"))), Input, ExitUsage},
		{"joined none", errors.Join(errors.New("a"), errors.New("b")), Failed, ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassOf(tc.err); got != tc.want {
				t.Errorf("ClassOf = %v, want %v", got, tc.want)
			}
			if got := ExitCode(tc.err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d", got, tc.code)
			}
		})
	}
	if ExitCode(nil) != ExitOK || Mark(Input, nil) != nil {
		t.Error("nil must stay nil and exit 0")
	}
	if got := Mark(Remote, errors.New("msg")).Error(); got != "msg" {
		t.Errorf("Mark changed the message: %q", got)
	}
	if Remote.String() != "remote" || Class(99).String() != "class(99)" {
		t.Error("class names")
	}
}
