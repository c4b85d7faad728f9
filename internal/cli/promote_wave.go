package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// writeWaveText prints a wave (promote --plan, --execute-plan): each
// cluster's live branch with the commits it moves between and its apps'
// object changes, the deletions, and the hash to approve.
func writeWaveText(w io.Writer, wave *promote.Wave, plan bool) {
	if wave == nil {
		return
	}
	title := "\nWave executed"
	if plan {
		title = "\nWave (approve it with promote --execute-plan HASH; nothing changed)"
	}
	fmt.Fprintln(w, title)
	if len(wave.Clusters) == 0 {
		fmt.Fprintln(w, "\nNothing would move.")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tMODE\tFROM\tTO\tAPP\tSTEP\tADDED\tCHANGED\tREMOVED")
		for _, c := range wave.Clusters {
			for _, a := range c.Apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", c.Cluster, c.Mode, waveSHA(c.From), layout.Short(c.To), a.App, a.Step, a.Added, a.Changed, a.Removed)
			}
		}
		_ = tw.Flush()
		if dels := waveDeletions(wave); len(dels) > 0 {
			fmt.Fprintln(w, "\nObjects that will be deleted:")
			for _, d := range dels {
				fmt.Fprintf(w, "  %s\n", d)
			}
		}
	}
	fmt.Fprintf(w, "\nPlan hash: %s\n", wave.Hash)
}

// writeWaveSummary is the wave as job-summary Markdown.
func writeWaveSummary(w io.Writer, wave *promote.Wave, plan bool) {
	if wave == nil {
		return
	}
	title := "Wave executed"
	if plan {
		title = "Wave to approve"
	}
	fmt.Fprintf(w, "\n### %s\n\n", title)
	if len(wave.Clusters) == 0 {
		fmt.Fprintln(w, "Nothing would move.")
	} else {
		fmt.Fprintf(w, "| cluster | mode | from | to | app | step | added | changed | removed |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range wave.Clusters {
			for _, a := range c.Apps {
				fmt.Fprintf(w, "| %s | %s | `%s` | `%s` | %s | %s | %d | %d | %d |\n", c.Cluster, c.Mode, waveSHA(c.From), layout.Short(c.To), a.App, a.Step, a.Added, a.Changed, a.Removed)
			}
		}
		if dels := waveDeletions(wave); len(dels) > 0 {
			fmt.Fprintf(w, "\n**Objects that will be deleted:**\n\n")
			for _, d := range dels {
				fmt.Fprintf(w, "- `%s`\n", d)
			}
		}
	}
	fmt.Fprintf(w, "\nPlan hash: `%s`\n", wave.Hash)
}

func waveSHA(sha string) string {
	if strings.Trim(sha, "0") == "" {
		return "(new)"
	}
	return layout.Short(sha)
}

func waveDeletions(wave *promote.Wave) []string {
	var out []string
	for _, c := range wave.Clusters {
		for _, a := range c.Apps {
			for _, d := range a.Deleted {
				out = append(out, c.Cluster+"/"+a.App+": "+d)
			}
		}
	}
	return out
}

// readPlanWave reads --plan-wave: the JSON itself (starting with "{"), or
// a file holding it; either promote --plan -o json's document or its
// wave alone (the Action's wave output).
func readPlanWave(v string) (*promote.Wave, error) {
	b := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "{") {
		var err error
		if b, err = os.ReadFile(v); err != nil {
			return nil, fmt.Errorf("%w: --plan-wave: %v", errUsage, err)
		}
	}
	var doc struct {
		promote.Wave
		Result *promote.Wave `json:"wave"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: --plan-wave: not the JSON of a wave (promote --plan -o json): %v", errUsage, err)
	}
	if doc.Result != nil {
		return doc.Result, nil
	}
	if doc.Hash == "" {
		return nil, fmt.Errorf("%w: --plan-wave: no wave in it (promote --plan -o json)", errUsage)
	}
	return &doc.Wave, nil
}
