package cli

import (
	"errors"
	"os"

	"github.com/flotilla-dev/flotilla/internal/actions"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// appendStepSummary appends Markdown, its secrets hidden, to the job
// summary file at path ($GITHUB_STEP_SUMMARY) within GitHub's limit on a
// step's summary, what the file holds already included: the part that
// does not fit is cut by report.Fit, with the pointer the Action uses (the
// command's output, in the step's log, has it all). A full file gets
// nothing more.
func appendStepSummary(env Env, path, md string) error {
	md = env.secrets.Redact(md)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		return errors.Join(err, f.Close())
	}
	if room := actions.SummaryLimit - int(info.Size()); len(md) > room {
		cut := ""
		if room > len(actions.SummaryCut)+2 {
			cut = rpt.Fit(md, room, actions.SummaryCut)
		}
		md = cut
	}
	_, err = f.WriteString(md)
	return errors.Join(err, f.Close())
}
