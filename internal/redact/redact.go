// Package redact hides credentials in text before it is shown: the user
// information and query values of every URL in the text, and secret values
// the caller knows (a token from the environment, the password of a remote
// URL given as a flag).
//
// Errors from go-git and net/http embed the URL they failed on, and a URL
// may carry a token (https://x-access-token:TOKEN@host/repo, or
// ?private_token=TOKEN). Rather than trusting every wrap site, each command
// writes its output through a [Writer], the one place where text leaves the
// process; the wrap sites that name a remote use [URL] as well, so an error
// stays clean when it is carried further (a JSON result, an annotation).
package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mask is what a hidden value is replaced by.
const Mask = "***"

// MinSecret is the length in bytes of the shortest known value Secrets
// replaces, and of the shortest the GitHub Action registers with the
// runner (::add-mask::): a shorter one would blank ordinary words and
// digits everywhere ("1", "on", "dev") and hide little, as so short a
// value is guessed anyway. URL credentials of any length are still hidden
// by their position (URL).
const MinSecret = 4

// urlPattern finds URLs in free text: a scheme, "://", then anything up to
// a space, a quote or an angle bracket (what ends a URL in an error
// message, a JSON string or Markdown).
var urlPattern = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]+")

// secretQuery matches the names of query parameters that carry
// credentials: access_token, private_token, api_key, apikey, password,
// client_secret, sig and X-Amz-Signature (signed URLs), X-Amz-Credential,
// auth… Other values stay: they are data (a link's ?x=1&y=2 in an
// annotation that render lists) and help to read an error.
var secretQuery = regexp.MustCompile(`(?i)token|secret|passw|pwd|key|sig|auth|credential|session`)

// secretWords are the words of a setting's name that say its value is a
// credential (SecretName).
var secretWords = map[string]bool{
	"token": true, "secret": true, "password": true, "passwd": true, "pwd": true,
	"passphrase": true, "key": true, "apikey": true, "credential": true,
	"credentials": true, "session": true, "auth": true, "signature": true,
}

// locatorWords end the name of a setting that names or locates a
// credential without being one: AWS_ACCESS_KEY_ID, TOKEN_FILE,
// AWS_ROLE_SESSION_NAME, VAULT_TOKEN_PATH, AUTH_TYPE.
var locatorWords = map[string]bool{
	"id": true, "name": true, "file": true, "path": true, "dir": true,
	"url": true, "uri": true, "host": true, "endpoint": true, "region": true,
	"type": true, "mode": true, "expiry": true, "ttl": true, "duration": true,
}

// camelBreak is where a lower-case letter or a digit meets an upper-case
// one (clientSecret): a break between words of a name.
var camelBreak = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// SecretName reports whether a setting of that name (an environment
// variable, a kubeconfig auth-provider key) holds a credential: one of
// its words is a secret word (token, secret, password, key, credential,
// session, auth…) and its last word does not make it the credential's
// name or location (…_ID, …_FILE, …_PATH, …_REGION). AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, VAULT_TOKEN, id-token and client-secret do;
// AWS_REGION, DEBUG, AWS_ACCESS_KEY_ID and client-id do not. A key that
// follows token or expiry (the gcp auth-provider's token-key and
// expiry-key) is a JSONPath to the value, not a key.
func SecretName(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(camelBreak.ReplaceAllString(name, "${1}_$2")), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
	if len(words) == 0 {
		return false
	}
	n := len(words)
	if locatorWords[words[n-1]] {
		return false
	}
	if n >= 2 && words[n-1] == "key" && (words[n-2] == "token" || words[n-2] == "expiry") {
		return false
	}
	return slices.ContainsFunc(words, func(w string) bool { return secretWords[w] })
}

// URL returns u with its user information (user and password: a token is
// often the user name) and the values of secret query parameters
// (secretQuery) replaced by Mask: https://x:TOKEN@host/r?token=T&ref=main
// becomes https://***@host/r?token=***&ref=main. Text that is not a URL is
// returned as it is.
func URL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	head, rest := u[:i+3], u[i+3:]
	if _, at := userinfo(rest); at >= 0 {
		rest = Mask + rest[at:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		return head + rest
	}
	query, frag := rest[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for k, p := range parts {
		if name, _, ok := strings.Cut(p, "="); ok && secretQuery.MatchString(name) {
			parts[k] = name + "=" + Mask
		}
	}
	return head + rest[:q+1] + strings.Join(parts, "&") + frag
}

// userinfo finds the user information of a URL's text after "://": what
// comes before the last '@' that precedes any '?' or '#', when it holds no
// '/' or, holding one, reads user:password (a password with a raw '/' is
// invalid, but better hidden whole than shown in part). A path with an '@'
// further on (/users/@me, host:5000/chart@sha256:…) is not user
// information. at is -1 when there is none.
func userinfo(rest string) (info string, at int) {
	end := strings.IndexAny(rest, "?#")
	if end < 0 {
		end = len(rest)
	}
	at = strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return "", -1
	}
	info = rest[:at]
	if !strings.Contains(info, "/") {
		return info, at
	}
	// host:port/path@… (oci://registry:5000/chart@sha256:…) is not.
	user, pass, ok := strings.Cut(info, ":")
	port, _, _ := strings.Cut(pass, "/")
	if !ok || port == "" || strings.Contains(user, "/") || strings.Trim(port, "0123456789") == "" {
		return "", -1
	}
	return info, at
}

// Text returns s with the credentials of every URL in it hidden (see URL).
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, URL)
}

// Secrets are values known to be secret, replaced wherever they appear,
// on top of what Text hides. The zero value is ready to use, and it is
// safe for concurrent use.
type Secrets struct {
	mu       sync.Mutex
	values   []string
	replacer *strings.Replacer
}

// Add records secret values; values shorter than MinSecret are ignored.
// A value is also recorded as it would appear inside a JSON string.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		forms := []string{v}
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, string(b[1:len(b)-1]))
		}
		for _, f := range forms {
			if len(f) >= MinSecret && !slices.Contains(s.values, f) {
				s.values = append(s.values, f)
				s.replacer = nil
			}
		}
	}
}

// AddURL records the credentials a URL carries (see Credentials).
func (s *Secrets) AddURL(u string) { s.Add(Credentials(u)...) }

// Credentials returns the secret parts of a URL, as written and decoded:
// its password, or its user name when it has no password (a token given
// as the user), and the values of its secret query parameters. A user
// name next to a password is not secret (x-access-token, oauth2).
func Credentials(u string) []string {
	i := strings.Index(u, "://")
	if i < 0 {
		return nil
	}
	rest := u[i+3:]
	var out []string
	add := func(v string) {
		forms := []string{v}
		if d, err := url.PathUnescape(v); err == nil {
			forms = append(forms, d)
		}
		if d, err := url.QueryUnescape(v); err == nil {
			forms = append(forms, d)
		}
		for _, f := range forms {
			if f != "" && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	if info, at := userinfo(rest); at >= 0 {
		user, pass, ok := strings.Cut(info, ":")
		if ok {
			add(pass)
		} else {
			add(user)
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		query, _, _ := strings.Cut(rest[q+1:], "#")
		for _, p := range strings.Split(query, "&") {
			if name, value, ok := strings.Cut(p, "="); ok && secretQuery.MatchString(name) {
				add(value)
			}
		}
	}
	return out
}

// Redact returns text with URL credentials (Text) and the known values
// hidden.
func (s *Secrets) Redact(text string) string {
	text = Text(text)
	if s == nil {
		return text
	}
	s.mu.Lock()
	if s.replacer == nil && len(s.values) > 0 {
		// Longest first, so a value containing another is hidden whole.
		vs := slices.Clone(s.values)
		slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, Mask)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	r := s.replacer
	s.mu.Unlock()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

// Writer hides secrets in everything written to w. It holds back a line
// until its end is written, so a secret split over two writes is still
// found; Flush writes what is held back.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *Secrets
	partial []byte
}

// NewWriter returns a Writer to w that hides Text's URL credentials and
// the values of secrets (nil: URL credentials only).
func NewWriter(w io.Writer, secrets *Secrets) *Writer {
	return &Writer{w: w, secrets: secrets}
}

// Write writes the complete lines of p, redacted, and holds back the rest.
// It reports len(p) written when the lines were written.
func (rw *Writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.partial = append(rw.partial, p...)
	i := bytes.LastIndexAny(rw.partial, "\r\n")
	if i < 0 {
		return len(p), nil
	}
	lines := string(rw.partial[:i+1])
	rw.partial = append(rw.partial[:0], rw.partial[i+1:]...)
	if _, err := io.WriteString(rw.w, rw.secrets.Redact(lines)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes the text held back (a last line without its line break).
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.partial) == 0 {
		return nil
	}
	s := rw.secrets.Redact(string(rw.partial))
	rw.partial = rw.partial[:0]
	_, err := io.WriteString(rw.w, s)
	return err
}

// Error returns err with the credentials of every URL in its text hidden
// (Text), for a wrap site whose cause quotes a URL it was given (go-git's
// and net/http's errors do: net/http hides a password, not a token given
// as the user or in the query). errors.Is and errors.As still see err.
// Error(nil) is nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}

type redactedError struct{ err error }

func (e redactedError) Error() string { return Text(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
