package gitobj

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// PushError is a push the remote did not take: the branches it named,
// the remote, the cause, and the lines the remote printed on the
// sideband (its hooks' messages, a protected-branch rule), which git
// shows as "remote: ...".
type PushError struct {
	// Remote is the remote's URL, without credentials.
	Remote string
	// Refs are the remote refs the push named.
	Refs []string
	// Messages are the lines the remote printed, redacted.
	Messages []string
	// Err is the cause.
	Err error
}

func (e *PushError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "push %s to %s: %v", strings.Join(e.Refs, ", "), e.Remote, e.Err)
	if len(e.Messages) > 0 {
		b.WriteString("; the remote said:")
		for _, m := range e.Messages {
			b.WriteString("\n  remote: " + m)
		}
	}
	b.WriteString("\nthe remote did not take the push: fix what it refuses (a protected-branch rule, a hook) or the access to it, and run again")
	return b.String()
}

func (e *PushError) Unwrap() error { return e.Err }

// FailureClass is failure.Remote: the remote did not take the push (as
// hydrate.PushError for render's pushes), unless the cause says more (an
// interruption).
func (e *PushError) FailureClass() failure.Class {
	if c := failure.ClassOf(e.Err); c == failure.Canceled || c == failure.Conflict {
		return c
	}
	return failure.Remote
}

// PushRef is one ref a Push sends: the local ref Src to the remote ref
// Dst, forced or not.
type PushRef struct {
	Src, Dst plumbing.ReferenceName
	Force    bool
}

// Push sends refs from s to the remote at url (atomically when asked)
// and keeps what the remote prints on the sideband. Up to date is
// success. When the push fails but the remote now holds exactly each
// ref's new value, the push landed and only its answer was lost: that is
// success too. Any other failure is a *PushError that quotes the
// remote's lines.
func Push(ctx context.Context, s storage.Storer, url string, auth transport.AuthMethod, atomic bool, refs ...PushRef) error {
	rem := git.NewRemote(s, &config.RemoteConfig{Name: "flotilla-push", URLs: []string{url}})
	specs := make([]config.RefSpec, len(refs))
	names := make([]string, len(refs))
	for i, r := range refs {
		spec := r.Src.String() + ":" + r.Dst.String()
		if r.Force {
			spec = "+" + spec
		}
		specs[i], names[i] = config.RefSpec(spec), strings.TrimPrefix(r.Dst.String(), "refs/heads/")
	}
	msgs := &RemoteMessages{}
	err := rem.PushContext(ctx, &git.PushOptions{RemoteName: "flotilla-push", Auth: auth, RefSpecs: specs, Atomic: atomic, Progress: msgs})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if landed(ctx, rem, s, auth, refs) {
		return nil
	}
	return &PushError{Remote: redact.URL(url), Refs: names, Messages: msgs.Lines(), Err: err}
}

// landed reports whether the remote holds exactly each ref's local value.
func landed(ctx context.Context, rem *git.Remote, s storer.ReferenceStorer, auth transport.AuthMethod, refs []PushRef) bool {
	list, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return false
	}
	held := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, r := range list {
		held[r.Name()] = r.Hash()
	}
	for _, r := range refs {
		mine, err := ReadRef(s, r.Src)
		if err != nil || mine.IsZero() || held[r.Dst] != mine {
			return false
		}
	}
	return true
}

// RemoteMessages collects the lines a remote prints on the sideband, up
// to 64 KiB; use it as a push's Progress writer.
type RemoteMessages struct {
	mu  sync.Mutex
	buf []byte
}

// Write keeps b while the bound allows and never fails.
func (m *RemoteMessages) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if room := 64<<10 - len(m.buf); room > 0 {
		m.buf = append(m.buf, b[:min(len(b), room)]...)
	}
	return len(b), nil
}

// Lines returns the non-empty lines kept, with the credentials of any
// URL in them hidden.
func (m *RemoteMessages) Lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, l := range strings.FieldsFunc(string(m.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimRight(l, " \t"); l != "" {
			out = append(out, redact.Text(l))
		}
	}
	return out
}
