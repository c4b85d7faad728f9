package forgetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// recorder collects the failures the fake reports instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestContractCatchesMismatches shows the validation is real: a request
// GitHub would refuse and a response GitHub would never send are reported.
func TestContractCatchesMismatches(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	rec := &recorder{TB: t}
	g := New(rec, bare, "example", "fleet")

	body := `{"title":"x","head":"main","base":"main","merge_method":"fast"}`
	resp, err := http.Post(g.Server.URL+"/repos/example/fleet/pulls/1/merge", "application/json", strings.NewReader(body))
	if err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, g.Server.URL+"/repos/example/fleet/pulls/1/merge", strings.NewReader(`{"merge_method":"fast"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	c, _ := description()
	bad := c.wrap(rec.fail, func(w http.ResponseWriter, r *http.Request, op string, params map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"number": 1}`)) // a pull request without its required fields
	})
	srv := httptest.NewServer(bad)
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/repos/example/fleet/pulls/1"); err == nil {
		resp.Body.Close()
	}
	all := strings.Join(rec.errs, "\n")
	for _, want := range []string{"no operation in GitHub's description", `request PUT /repos/example/fleet/pulls/1/merge (pulls/merge) does not match`, "response 200 to pulls/get does not match"} {
		if !strings.Contains(all, want) {
			t.Errorf("the contract did not report %q; it reported:\n%s", want, all)
		}
	}
}

func (r *recorder) fail(msg string) { r.Errorf("%s", msg) }
