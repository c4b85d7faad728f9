package actions

import (
	"bytes"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	kubeconfig := `apiVersion: v1
users:
- name: admin
  user:
    client-key-data: S0VZS0VZS0VZ
    token: "abcdef123"
clusters:
- cluster:
    server: https://10.0.0.1:6443
`
	var w bytes.Buffer
	New(func(string) string { return "" }, &w).Mask(kubeconfig)
	masks := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(w.String()), "\n") {
		if v, ok := strings.CutPrefix(line, "::add-mask::"); ok {
			masks[v] = true
		}
	}
	for _, want := range []string{"S0VZS0VZS0VZ", "abcdef123", "client-key-data: S0VZS0VZS0VZ", `token: "abcdef123"`} {
		if !masks[want] {
			t.Errorf("%q is not masked; masks: %v", want, masks)
		}
	}
	// Values of keys that are not secret stay readable on their own.
	if masks["https://10.0.0.1:6443"] || masks["admin"] {
		t.Errorf("a non-secret value is masked alone: %v", masks)
	}
}

func TestMaskEmpty(t *testing.T) {
	var w bytes.Buffer
	New(func(string) string { return "" }, &w).Mask("")
	if w.Len() != 0 {
		t.Errorf("an empty secret wrote %q", w.String())
	}
}
