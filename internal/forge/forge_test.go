package forge

import (
	"maps"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// history is statuses oldest first, as they were posted.
func runsOf(contexts []string, history []Status) (map[string]time.Time, int) {
	r := NewRunStarts(contexts)
	read := 0
	for i := len(history) - 1; i >= 0; i-- { // newest first
		read++
		if !r.Add(history[i]) {
			break
		}
	}
	return r.Since(), read
}

// TestRunStarts: the run of a context starts at the first success after
// its newest other state; re-posted successes do not restart it, a
// failure (or a pending) in between does, and reading stops as soon as
// every context is bounded.
func TestRunStarts(t *testing.T) {
	t.Parallel()
	ok := func(ctx string, min int) Status { return Status{Context: ctx, State: StateSuccess, UpdatedAt: at(min)} }
	bad := func(ctx string, st State, min int) Status { return Status{Context: ctx, State: st, UpdatedAt: at(min)} }
	for _, tt := range []struct {
		name     string
		contexts []string
		history  []Status
		want     map[string]time.Time
		read     int // statuses read, newest first
	}{
		{"re-posted success keeps the first", []string{"web"}, []Status{ok("web", 0), ok("web", 15), ok("web", 30)}, map[string]time.Time{"web": at(0)}, 3},
		{"failure in between restarts", []string{"web"}, []Status{ok("web", 0), bad("web", StateFailure, 10), ok("web", 20), ok("web", 35)}, map[string]time.Time{"web": at(20)}, 3},
		{"pending in between restarts", []string{"web"}, []Status{ok("web", 0), bad("web", StatePending, 10), ok("web", 20)}, map[string]time.Time{"web": at(20)}, 2},
		{"newest is a failure: no run", []string{"web"}, []Status{ok("web", 0), bad("web", StateError, 10)}, map[string]time.Time{}, 1},
		{"no status: absent", []string{"web"}, []Status{ok("db", 0)}, map[string]time.Time{}, 1},
		{"other contexts are skipped", []string{"web"}, []Status{ok("web", 0), bad("db", StateFailure, 5), ok("web", 10)}, map[string]time.Time{"web": at(0)}, 3},
		{"two contexts: stop when both are bounded", []string{"web", "db"},
			[]Status{ok("web", 0), ok("db", 0), bad("web", StateFailure, 5), bad("db", StateFailure, 6), ok("web", 10), ok("db", 11), ok("web", 20)},
			map[string]time.Time{"web": at(10), "db": at(11)}, 5},
		{"no contexts asked", nil, []Status{ok("web", 0)}, map[string]time.Time{}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, read := runsOf(tt.contexts, tt.history)
			if !maps.Equal(got, tt.want) {
				t.Errorf("since %v, want %v", got, tt.want)
			}
			if read != tt.read {
				t.Errorf("read %d statuses, want %d", read, tt.read)
			}
		})
	}
}

// FuzzRunStarts: RunStarts, which stops early, agrees with the
// definition read from the whole history oldest first: a success after
// a non-success (or as the first status) starts a run, and the run
// holds when the newest status is a success.
func FuzzRunStarts(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0, 0, 0, 8, 0, 9, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		contexts := []string{"a", "b", "c"}
		states := []State{StateSuccess, StateSuccess, StatePending, StateFailure, StateError}
		var history []Status
		for i, x := range b {
			history = append(history, Status{Context: contexts[int(x)%3], State: states[int(x/3)%len(states)], UpdatedAt: at(i)})
		}
		want := map[string]time.Time{}
		for _, s := range history {
			prev, run := want[s.Context]
			switch {
			case s.State != StateSuccess:
				delete(want, s.Context)
			case !run:
				want[s.Context] = s.UpdatedAt
			default:
				want[s.Context] = prev
			}
		}
		delete(want, "c") // not asked for
		got, _ := runsOf([]string{"a", "b"}, history)
		if !maps.Equal(got, want) {
			t.Fatalf("history %v: since %v, want %v", history, got, want)
		}
	})
}

func TestSameAndCanWrite(t *testing.T) {
	t.Parallel()
	a := Status{Context: "c", State: StateSuccess, Description: "ok", UpdatedAt: at(0)}
	b := a
	b.UpdatedAt = at(30)
	if !Same(a, b) {
		t.Error("the same status at another time is not Same")
	}
	for _, change := range []func(*Status){
		func(s *Status) { s.State = StateFailure },
		func(s *Status) { s.Description = "other" },
		func(s *Status) { s.TargetURL = "https://example.com" },
		func(s *Status) { s.Context = "d" },
	} {
		c := a
		change(&c)
		if Same(a, c) {
			t.Errorf("%+v is Same as %+v", c, a)
		}
	}
	for p, want := range map[Permission]bool{PermissionAdmin: true, PermissionMaintain: true, PermissionWrite: true,
		PermissionTriage: false, PermissionRead: false, PermissionNone: false, "": false, "custom-role": false} {
		if p.CanWrite() != want {
			t.Errorf("%q.CanWrite() = %v", p, !want)
		}
	}
}
