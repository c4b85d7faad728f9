package hydrate

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// TestMetadataFileIsTheEncodersOutput pins metadataFile (the dry-commit
// fields encoded once, an app's InfoJSON spliced in, indented) to what a
// json.Encoder writes for the whole Metadata: HTML characters, unicode,
// empty and omitted fields, nested lists and maps.
func TestMetadataFileIsTheEncodersOutput(t *testing.T) {
	t.Parallel()
	infos := []AppInfo{
		{},
		{ApplicationSet: "a<b>&c", Sources: []render.Source{{RepoURL: "https://x/y?a=1&b=2", Path: "p/☃", TargetRevision: "main", SHA: "abc"}},
			Destination: fleet.ApplicationDestination{Server: "https://k", Namespace: "ns"},
			SyncOptions: []string{"ServerSideApply=true"}, Labels: map[string]string{"b": "2", "a": "<1>"},
			Objects: 3, ContentHash: "sha256:00"},
	}
	for _, dry := range []metadataHead{
		{},
		{RepoURL: "https://github.com/o/fleet", DrySHA: "0123", Author: "A <a@example.com>", Date: "2026-01-01T00:00:00Z",
			Subject: "fix \"quotes\" & <tags>", Body: "line\n\ttab\u2028", References: []Reference{{Commit: &ReferencedCommit{SHA: "r1", Subject: "r<2>"}}, {}}},
	} {
		head := compactJSON(dry)
		for _, info := range infos {
			md := Metadata{metadataHead: dry, Flotilla: info}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(md); err != nil {
				t.Fatal(err)
			}
			a := App{Info: info}
			if diff := cmp.Diff(want.String(), string(metadataFile(head, a.InfoJSON()))); diff != "" {
				t.Errorf("metadataFile (-encoder +got):\n%s", diff)
			}
		}
	}
}

// FuzzAppendIndent checks appendIndent against json.Indent on the compact
// form of any valid JSON.
func FuzzAppendIndent(f *testing.F) {
	for _, seed := range []string{`{}`, `[]`, `{"a":[],"b":{},"c":[1,{"d":null}]}`, `"x\"y\\"`,
		`{"k\u2028":"v:,{}[]","e":"\\\""}`, `[true,false,-1.5e3,"☃"]`, `{"a":{"b":{"c":[[],[{}]]}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var compact, want bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		if err := json.Indent(&want, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndent(nil, compact.Bytes()); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendIndent(%s):\n%s\nwant:\n%s", compact.Bytes(), got, want.Bytes())
		}
	})
}
