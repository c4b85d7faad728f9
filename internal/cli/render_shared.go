package cli

// What render shares with the other commands: the shard split, the
// credentials of https remotes, a checkout's origin.

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// shard is a --shard i/n selection.
type shard struct{ i, n int }

func parseShard(s string) (shard, error) {
	if s == "" {
		return shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return shard{}, fmt.Errorf("%w: --shard %q must be i/n with 0 <= i < n (e.g. 0/4)", errUsage, s)
	}
	return shard{i, n}, nil
}

// shardOf returns the shard (0..n-1) of the k-th cluster by name (the
// hydrator's split).

// authFor uses GITHUB_TOKEN (or FLOTILLA_GIT_TOKEN) for https remotes.
func authFor(remote string, env Env) transport.AuthMethod {
	if !strings.HasPrefix(remote, "https://") || env.Getenv == nil {
		return nil
	}
	for _, k := range []string{"FLOTILLA_GIT_TOKEN", "GITHUB_TOKEN"} {
		if tok := env.Getenv(k); tok != "" {
			return &githttp.BasicAuth{Username: "x-access-token", Password: tok}
		}
	}
	return nil
}

// originURL is the URL of repo's origin remote ("" for none).
func originURL(repo *git.Repository) string {
	r, err := repo.Remote("origin")
	if err != nil || len(r.Config().URLs) == 0 {
		return ""
	}
	return r.Config().URLs[0]
}

// defaultConcurrency is --concurrency's default: twice the CPUs.
func defaultConcurrency() int { return max(2, runtime.GOMAXPROCS(0)*2) }
