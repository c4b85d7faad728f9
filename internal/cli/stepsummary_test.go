package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/redact"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// TestAppendStepSummaryLimit: the commands (status, promote, verify) that
// append to $GITHUB_STEP_SUMMARY keep the step's summary within 1 MiB,
// counting what an earlier command of the step wrote: what does not fit
// is cut with its code blocks and <details> closed and the pointer to the
// log, the same bytes every time; a full file gets nothing; secrets are
// hidden before the cut is measured.
func TestAppendStepSummaryLimit(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-for-the-summary"
	secrets := &redact.Secrets{}
	secrets.Add(secret)
	env := Env{secrets: secrets}
	md := "### verify\n\n<details><summary>web drifted</summary>\n\n````diff\n" + strings.Repeat("+ ```ü "+secret+" ✓\n", 3000) + "````\n</details>\n"
	for _, tc := range []struct {
		name   string
		before int
		cut    bool
	}{
		{"fits", 0, false},
		{"after an earlier part", actions.SummaryLimit - 20_000, true},
		{"nearly full", actions.SummaryLimit - 20, true},
		{"full", actions.SummaryLimit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			write := func() string {
				path := filepath.Join(t.TempDir(), "summary")
				if err := os.WriteFile(path, []byte(strings.Repeat("x\n", tc.before/2)), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := appendStepSummary(env, path, md); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(path)
				return string(b)
			}
			all := write()
			if write() != all {
				t.Fatal("two runs wrote different summaries")
			}
			got := all[tc.before:]
			if len(all) > actions.SummaryLimit || !utf8.ValidString(got) {
				t.Fatalf("summary of %d bytes (valid UTF-8 %v)", len(all), utf8.ValidString(got))
			}
			if strings.Contains(got, secret) {
				t.Error("the summary shows the secret")
			}
			if u := rpt.Unclosed(got); u != "" {
				t.Errorf("the summary leaves %.200q open", u)
			}
			if cut := got != secrets.Redact(md); cut != tc.cut {
				t.Errorf("cut %v, want %v", cut, tc.cut)
			}
			if tc.cut && got != "" && !strings.HasSuffix(got, actions.SummaryCut+"\n") {
				t.Errorf("a cut summary without its pointer: %.200q", got[max(0, len(got)-200):])
			}
		})
	}
}
