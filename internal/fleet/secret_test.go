package fleet

import (
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestClusterSecretErrorsQuoteNoValue gives cluster Secrets whose secret
// material has the wrong type: the error names the file, line and key,
// and never the value.
func TestClusterSecretErrorsQuoteNoValue(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  labels: {argocd.argoproj.io/secret-type: cluster}\n"
	for _, tc := range []struct{ name, body, want string }{
		{"numeric password", "stringData:\n  name: c\n  server: https://c\n  password: 98765432\n",
			"clusters/s.yaml:9: stringData.password: expected a string, got a number (quote it; the value is secret, so it is not shown)"},
		{"hex token", "data:\n  bearerToken: 0x9876ABCD\n",
			"clusters/s.yaml:7: data.bearerToken: expected a string, got a number"},
		{"float config", "stringData:\n  config: 98765.4321\n",
			"clusters/s.yaml:7: stringData.config: expected a string, got a number"},
		{"config as a flow mapping", "stringData:\n  config: {\"bearerToken\": 98765432, \"password\": \"9876secret\"}\n",
			"clusters/s.yaml:7: stringData.config: expected a string, got an object"},
		{"tag that does not fit", "stringData:\n  password: !!int \"9876secret\"\n",
			"clusters/s.yaml:1: a value does not decode (check its tag and type; the value is secret, so it is not shown)"},
		{"timestamp", "stringData:\n  password: 1998-07-06\n",
			"clusters/s.yaml:7: stringData.password: expected a string, got timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(gittest.Files(t, map[string]string{"applicationsets/a.yaml": minimalAppSet, "clusters/s.yaml": head + tc.body}))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n got %s\nwant %s…", err, tc.want)
			}
			for _, secret := range []string{"9876", "1998"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error quotes the value: %s", err)
				}
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != "clusters/s.yaml" {
				t.Errorf("not a FileError of clusters/s.yaml: %#v", err)
			}
		})
	}
}
