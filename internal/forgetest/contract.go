// Package forgetest is an in-process GitHub for tests: stateful over a
// real bare repository (pull requests, reviews, statuses, comments, labels,
// refs and real merge commits), with every request and every response
// validated against GitHub's published OpenAPI description
// (testdata/api.github.com.subset.json) by kin-openapi. Any mismatch fails
// the test. It can inject rate limits, merge refusals, mergeable states and
// server errors.
package forgetest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// contract validates traffic against the description.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	slashy []slashRoute
}

type slashRoute struct {
	re    *regexp.Regexp
	names []string
	path  string
	item  *openapi3.PathItem
}

var (
	loadOnce sync.Once
	loaded   *contract
	loadErr  error
)

// description loads the description once per test binary (about 60 ms).
func description() (*contract, error) {
	loadOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		path := filepath.Join(filepath.Dir(file), "testdata", "api.github.com.subset.json")
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			loadErr = err
			return
		}
		// GitHub's own examples break their schemas in places (README of
		// the description): validate the document without them.
		if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
			loadErr = err
			return
		}
		doc.Servers = openapi3.Servers{{URL: "/"}}
		// checks/create declares a discriminator on an optional property.
		if p := doc.Paths.Value("/repos/{owner}/{repo}/check-runs"); p != nil && p.Post != nil {
			p.Post.RequestBody.Value.Content.Get("application/json").Schema.Value.Discriminator = nil
		}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			loadErr = err
			return
		}
		c := &contract{doc: doc, router: router}
		c.buildSlashRoutes()
		loaded = c
	})
	return loaded, loadErr
}

// buildSlashRoutes lets parameters GitHub marks x-multi-segment ({ref},
// {branch}, {sha}, {basehead}) span several path segments, as go-github
// sends them ("heads/feature/x").
func (c *contract) buildSlashRoutes() {
	for _, path := range c.doc.Paths.InMatchingOrder() {
		item := c.doc.Paths.Value(path)
		multi := map[string]bool{}
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == "path" && p.Value.Extensions["x-multi-segment"] == true {
					multi[p.Value.Name] = true
				}
			}
		}
		var names []string
		pattern, rest := "^", path
		for {
			i := strings.IndexByte(rest, '{')
			if i < 0 {
				pattern += regexp.QuoteMeta(rest)
				break
			}
			j := strings.IndexByte(rest, '}')
			pattern += regexp.QuoteMeta(rest[:i])
			name := rest[i+1 : j]
			names = append(names, name)
			if multi[name] {
				pattern += "(.+?)"
			} else {
				pattern += "([^/]+)"
			}
			rest = rest[j+1:]
		}
		c.slashy = append(c.slashy, slashRoute{re: regexp.MustCompile(pattern + "$"), names: names, path: path, item: item})
	}
}

func (c *contract) findRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := c.router.FindRoute(r)
	if err == nil {
		return route, params, nil
	}
	for _, s := range c.slashy {
		m := s.re.FindStringSubmatch(r.URL.Path)
		if m == nil {
			continue
		}
		op := s.item.GetOperation(r.Method)
		if op == nil {
			continue
		}
		params := map[string]string{}
		for i, n := range s.names {
			params[n] = m[i+1]
		}
		return &routers.Route{Spec: c.doc, Path: s.path, PathItem: s.item, Method: r.Method, Operation: op}, params, nil
	}
	return nil, nil, err
}

// wrap validates each request before the fake runs and each response
// after; failures go to fail. Deliberate rate-limit answers and 304s (which
// the description lists for almost no operation) are not validated.
func (c *contract) wrap(fail func(string), next func(w http.ResponseWriter, r *http.Request, op string, params map[string]string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// GitHub Enterprise serves the same API under /api/v3.
		if p, ok := strings.CutPrefix(r.URL.Path, "/api/v3"); ok {
			r.URL.Path, r.URL.RawPath = p, ""
		}
		route, params, err := c.findRoute(r)
		if err != nil {
			fail(fmt.Sprintf("%s %s: no operation in GitHub's description: %v", r.Method, r.URL.Path, err))
			http.Error(w, `{"message":"no such operation"}`, http.StatusNotImplemented)
			return
		}
		op := route.Operation.OperationID
		in := &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			fail(fmt.Sprintf("request %s %s (%s) does not match GitHub's description: %v", r.Method, r.URL.Path, op, err))
		}
		rec := httptest.NewRecorder()
		next(rec, r, op, params)
		deliberate := rec.Code == http.StatusNotModified ||
			(rec.Code == http.StatusForbidden || rec.Code == http.StatusTooManyRequests) &&
				(rec.Header().Get("Retry-After") != "" || rec.Header().Get("X-Ratelimit-Remaining") == "0") ||
			rec.Code >= 500 && rec.Header().Get("X-Injected") == "true"
		if !deliberate {
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
				Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
			}
			out.SetBodyBytes(rec.Body.Bytes())
			if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
				fail(fmt.Sprintf("response %d to %s does not match GitHub's description: %v", rec.Code, op, err))
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
