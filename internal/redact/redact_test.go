package redact

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://x-access-token:ghs_SECRET@github.com/o/r.git", "https://***@github.com/o/r.git"},
		{"https://ghp_SECRET@github.com/o/r.git", "https://***@github.com/o/r.git"},
		{"https://u:p%40ss@host:8443/r", "https://***@host:8443/r"},
		{"https://u:p@ss@host/r", "https://***@host/r"},
		{"https://u:se/cret@host/r", "https://***@host/r"},
		{"https://host/r.git?private_token=SECRET&service=git-upload-pack", "https://host/r.git?private_token=***&service=git-upload-pack"},
		{"https://host/r?sv=2022&sig=SECRET&se=2030#frag", "https://host/r?sv=2022&sig=***&se=2030#frag"},
		{"https://s3/b/o?X-Amz-Credential=AKIA&X-Amz-Signature=abc&X-Amz-Expires=60", "https://s3/b/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"},
		{"https://host/r?api_key=K&access_token=T&client_secret=S&password=P&ref=main", "https://host/r?api_key=***&access_token=***&client_secret=***&password=***&ref=main"},
		{"https://web.example.com/health?x=1&y=2", "https://web.example.com/health?x=1&y=2"},
		{"https://host/users/@me", "https://host/users/@me"},
		{"oci://registry:5000/charts/web@sha256:0123", "oci://registry:5000/charts/web@sha256:0123"},
		{"https://u:12/34@host/r", "https://u:12/34@host/r"},
		{"https://host/r.git", "https://host/r.git"},
		{"ssh://git@github.com/o/r.git", "ssh://***@github.com/o/r.git"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"/path/to/repo", "/path/to/repo"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	in := `push hydrated/prod to https://x:SECRET@127.0.0.1:1/repo: Get "https://x:SECRET@127.0.0.1:1/repo/info/refs?service=git-receive-pack": dial tcp: refused` + "\n" +
		`{"target": "https://tok:SECRET@h/r?access_token=SECRET2"} <https://SECRET3@h/> ` + "`https://SECRET4@h`"
	want := `push hydrated/prod to https://***@127.0.0.1:1/repo: Get "https://***@127.0.0.1:1/repo/info/refs?service=git-receive-pack": dial tcp: refused` + "\n" +
		`{"target": "https://***@h/r?access_token=***"} <https://***@h/> ` + "`https://***@h`"
	if diff := cmp.Diff(want, Text(in)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"https://x-access-token:se%2Fcret@host/r", []string{"se%2Fcret", "se/cret"}},
		{"https://TOKEN@host/r", []string{"TOKEN"}},
		{"https://host/r?token=a%2Bb&service=git&ref=main", []string{"a%2Bb", "a+b"}},
		{"https://host/r", nil},
		{"not a url", nil},
	} {
		if diff := cmp.Diff(tc.want, Credentials(tc.in)); diff != "" {
			t.Errorf("Credentials(%q) (-want +got)\n%s", tc.in, diff)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	var s Secrets
	s.Add("abc", `pa"ss\word`, "token-1", "token-12")
	s.AddURL("https://u:p%2Fw0rd@h/r")
	got := s.Redact(`abc token-12 token-1 {"p": "pa\"ss\\word"} pa"ss\word p/w0rd p%2Fw0rd https://other:zz@h`)
	want := `abc *** *** {"p": "***"} *** *** *** https://***@h`
	if got != want {
		t.Errorf("Redact:\n got %s\nwant %s", got, want)
	}
	var nilSecrets *Secrets
	if got := nilSecrets.Redact("https://a:b@h"); got != "https://***@h" {
		t.Errorf("nil Secrets: %s", got)
	}
}

// TestWriterSplitSecret writes a secret in pieces: the writer holds a line
// back until it ends, so no piece of the secret gets out.
func TestWriterSplitSecret(t *testing.T) {
	t.Parallel()
	var s Secrets
	s.Add("SUPERSECRET")
	var out bytes.Buffer
	w := NewWriter(&out, &s)
	for _, p := range []string{"a SUPER", "SECRET b https://x:PA", "SS@h/r\nnext SUPERS", "ECRET"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got := out.String(); got != "a *** b https://***@h/r\n" {
		t.Errorf("before Flush: %q", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "a *** b https://***@h/r\nnext ***" {
		t.Errorf("after Flush: %q", got)
	}
}

// FuzzText puts credentials into a URL inside arbitrary text: neither the
// password nor a query value may come out, as written or escaped.
func FuzzText(f *testing.F) {
	f.Add("before ", "user", "s3cr3t-pass", "tok3n-value", " after")
	f.Add("", "", "p@ss/w:rd", "a&b=c", "\n")
	f.Add("Get \"", "x", "ghp_0123456789", "", "\": EOF")
	f.Fuzz(func(t *testing.T, before, user, pass, query, after string) {
		u := url.URL{Scheme: "https", Host: "git.example.com", Path: "/fleet.git", User: url.UserPassword(user, pass)}
		if query != "" {
			u.RawQuery = url.Values{"token": {query}}.Encode()
		}
		text := before + u.String() + after
		got := Text(text)
		for _, secret := range []string{pass, url.QueryEscape(pass), url.PathEscape(pass), query, url.QueryEscape(query)} {
			// A secret that the rest of the text holds anyway, or a short
			// one that the mask or the URL's fixed parts contain, proves
			// nothing.
			if len(secret) < 4 || strings.Contains(before+after+Mask+"https://git.example.com/fleet.git?token=", secret) ||
				strings.Contains(user, secret) || strings.Contains(url.UserPassword(user, "").String(), secret) {
				continue
			}
			if strings.Contains(got, secret) {
				t.Fatalf("Text(%q) = %q shows %q", text, got, secret)
			}
		}
	})
}

// TestSecretName tells the names of settings that hold credentials from
// the others, which hold common text a mask would hide everywhere.
func TestSecretName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "VAULT_TOKEN": true,
		"API_KEY": true, "DB_PASSWORD": true, "AZURE_CLIENT_SECRET": true, "GITHUB_TOKEN": true,
		"id-token": true, "refresh-token": true, "access-token": true, "client-secret": true,
		"clientSecret": true, "apikey": true, "APIKey": true, "BASIC_AUTH": true,
		"AWS_REGION": false, "AWS_DEFAULT_REGION": false, "DEBUG": false, "AWS_PROFILE": false,
		"AWS_ACCESS_KEY_ID": false, "TOKEN_FILE": false, "AWS_ROLE_SESSION_NAME": false,
		"VAULT_TOKEN_PATH": false, "AUTH_TYPE": false, "AZURE_AUTHORITY_HOST": false,
		"client-id": false, "idp-issuer-url": false, "cmd-path": false, "expiry": false,
		"token-key": false, "expiry-key": false, "MONKEY": false, "": false, "KUBECONFIG": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestError hides the URL credentials an error's text quotes, and keeps
// the error for errors.Is.
func TestError(t *testing.T) {
	t.Parallel()
	cause := &url.Error{Op: "Get", URL: "https://ghp_SECRET@host/r.git?private_token=SECRET2/info/refs", Err: io.ErrUnexpectedEOF}
	err := Error(cause)
	if want := `Get "https://***@host/r.git?private_token=***": unexpected EOF`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not see the cause")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}
