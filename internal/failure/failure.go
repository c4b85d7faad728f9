// Package failure is Flotilla's one error taxonomy: every error a command
// reports has a Class, decided by type (errors.As on this package's
// Error, on a type that declares its class, on apimachinery's status
// errors, on net.Error), never by message text, and one ExitCode.
//
// Packages mark errors where they know what went wrong: the fleet loader
// marks bad input, the Git publisher a refused push or a lost race, the
// forge an API failure. Everything else is Failed.
package failure

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Class is what kind of failure an error is.
type Class int

const (
	// Failed: a check or an operation failed (drift, an unhealthy app, a
	// denied object, an apply the cluster refused). The default.
	Failed Class = iota
	// Usage: the command line is wrong (unknown flag, a flag that does
	// not apply, a bad value).
	Usage
	// Input: the configuration or the fleet is wrong (flotilla.yaml, an
	// ApplicationSet, a kustomization, a chart, a kubeconfig).
	Input
	// Remote: a remote or an API failed or could not be reached (a Git
	// remote, GitHub, a Kubernetes API server, a chart repository);
	// running again may help.
	Remote
	// Conflict: someone else changed a branch or an object first and the
	// command gave up; running again starts from what is there now.
	Conflict
	// Canceled: the run was interrupted.
	Canceled
)

var classNames = [...]string{Failed: "failed", Usage: "usage", Input: "input", Remote: "remote", Conflict: "conflict", Canceled: "canceled"}

// String is the class's name, as written in JSON results.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("class(%d)", int(c))
	}
	return classNames[c]
}

// Exit codes shared by every command.
const (
	ExitOK     = 0 // success
	ExitFailed = 1 // a check or operation failed; also interrupted runs
	ExitUsage  = 2 // bad flags, bad configuration or bad fleet input
	ExitRemote = 3 // a remote or API failed, or lost a race: running again may help
)

// ExitCode is the process exit code for err (ExitOK for nil).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	switch ClassOf(err) {
	case Usage, Input:
		return ExitUsage
	case Remote, Conflict:
		return ExitRemote
	default:
		return ExitFailed
	}
}

// Classed is implemented by error types that know their class (for
// example fleet.FileError: Input).
type Classed interface {
	error
	FailureClass() Class
}

// Error is an error marked with its class.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string       { return e.Err.Error() }
func (e *Error) Unwrap() error       { return e.Err }
func (e *Error) FailureClass() Class { return e.Class }

// Mark returns err marked as class c (nil stays nil). The message is
// err's own.
func Mark(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Err: err}
}

// Usagef is a usage error (the command line is wrong).
func Usagef(format string, a ...any) error { return Mark(Usage, fmt.Errorf(format, a...)) }

// Inputf is an input error (the configuration or the fleet is wrong).
func Inputf(format string, a ...any) error { return Mark(Input, fmt.Errorf(format, a...)) }

// ClassOf is err's class: the first classified error in its chain (a
// joined error's parts in order), else Failed.
func ClassOf(err error) Class {
	c, _ := classOf(err)
	return c
}

// Is reports whether err's class is c.
func Is(err error, c Class) bool { return err != nil && ClassOf(err) == c }

// classOf walks err's chain depth first, as errors.As does, and stops at
// the first error whose class it can tell.
func classOf(err error) (Class, bool) {
	// An interruption is one whatever carried it: a *url.Error around
	// context.Canceled is a net.Error, and a forge may mark its errors
	// Remote; neither makes an interrupted run worth running again.
	if errors.Is(err, context.Canceled) {
		return Canceled, true
	}
	for err != nil {
		if c, ok := direct(err); ok {
			return c, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if c, ok := classOf(e); ok {
					return c, true
				}
			}
			return Failed, false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return Failed, false
		}
	}
	return Failed, false
}

// direct is the class err itself declares or is known by, without
// unwrapping it.
func direct(err error) (Class, bool) {
	if c, ok := err.(Classed); ok {
		return c.FailureClass(), true
	}
	if err == context.Canceled {
		return Canceled, true
	}
	if err == context.DeadlineExceeded {
		// A deadline of our own (apply --timeout, a budget) ran out: the
		// operation failed. (It is a net.Error by its methods; a request
		// that timed out comes as a *url.Error, classified before this.)
		return Failed, true
	}
	if s, ok := err.(apierrors.APIStatus); ok {
		return statusClass(s.Status())
	}
	if _, ok := err.(syscall.Errno); ok {
		// Errno has Timeout and Temporary, so it is a net.Error by
		// method set; a file's ENOENT is no remote's failure. A network
		// call's Errno comes wrapped in a *net.OpError, classified above.
		return Failed, false
	}
	if _, ok := err.(net.Error); ok {
		return Remote, true
	}
	return Failed, false
}

// statusClass classifies a Kubernetes API status by its reason: the
// server's refusal of an object is a failed operation; a conflict is a
// conflict; the server's own trouble is Remote.
func statusClass(s metav1.Status) (Class, bool) {
	switch s.Reason {
	case metav1.StatusReasonConflict, metav1.StatusReasonAlreadyExists:
		// A server-side apply refused because another field manager owns
		// the fields stays refused however often it runs: a failed
		// operation, not a lost race.
		if s.Details != nil {
			for _, c := range s.Details.Causes {
				if c.Type == metav1.CauseTypeFieldManagerConflict {
					return Failed, true
				}
			}
		}
		return Conflict, true
	case metav1.StatusReasonUnauthorized, metav1.StatusReasonServiceUnavailable,
		metav1.StatusReasonTimeout, metav1.StatusReasonServerTimeout,
		metav1.StatusReasonTooManyRequests, metav1.StatusReasonInternalError:
		return Remote, true
	case metav1.StatusReasonUnknown:
		if s.Code >= 500 || s.Code == 429 {
			return Remote, true
		}
	}
	return Failed, true
}
