# term.sh: the terminal rules of Flotilla's scripts, the same as its
# commands' (internal/cli): progress only when stderr is a terminal, colour
# only on a terminal with NO_COLOR unset or empty and TERM not dumb. Sourced
# by hack/tools/build.sh and hack/fleet-demo.sh; term_test.go tests it.

# term_progress: whether progress may be shown (stderr is a terminal).
term_progress() { [[ -t 2 ]]; }

# term_colour [FD]: whether text written to FD (default 1) may be coloured.
term_colour() { [[ -t ${1:-1} && -z ${NO_COLOR:-} && ${TERM:-} != dumb ]]; }

# term_now: the time in microseconds (EPOCHREALTIME, bash 5), else in
# whole seconds × 10^6.
term_now() {
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $((10#$t))
	else
		echo $(($(date +%s) * 1000000))
	fi
}

# term_since START: whole seconds since START (a term_now).
term_since() { echo $((($(term_now) - $1) / 1000000)); }

# term_elapsed SECONDS: "42s" or "2m03s".
term_elapsed() {
	if (($1 < 60)); then printf '%ds' "$1"; else printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); fi
}

# term_build WHAT CMD...: runs CMD, which builds WHAT (for example
# "kube-apiserver v1.37.2 (1/7)"), and returns its status. Every line starts
# with $TERM_PREFIX. On a terminal: one line counting the seconds while CMD
# runs, ending as "built WHAT in 1m02s"; CMD's stderr is shown only if it
# fails. Elsewhere (a CI log): one line, "building WHAT", then CMD's own
# output as it comes. CMD runs with errexit off (it is part of a list), so
# it must stop at its first failure by itself (&&).
term_build() {
	local what=$1 p=${TERM_PREFIX:-}
	shift
	if ! term_progress; then
		printf '%sbuilding %s\n' "$p" "$what" >&2
		"$@"
		return
	fi
	local errs start rc=0 ticker
	start=$(term_now)
	errs=$(mktemp)
	(
		while :; do
			printf '\r%sbuilding %s… %s' "$p" "$what" "$(term_elapsed "$(term_since "$start")")" >&2
			sleep 1
		done
	) &
	ticker=$!
	# Ctrl-C ends the script; the ticker must not outlive it.
	trap "kill $ticker 2>/dev/null" EXIT
	"$@" 2>"$errs" || rc=$?
	kill "$ticker" 2>/dev/null
	wait "$ticker" 2>/dev/null || true
	trap - EXIT
	# Blank the counting line (as long as it can be), then end it.
	printf '\r%*s\r' $((${#p} + ${#what} + 24)) '' >&2
	local took
	took=$(term_elapsed "$(term_since "$start")")
	if ((rc == 0)); then
		printf '%sbuilt %s in %s\n' "$p" "$what" "$took" >&2
	else
		printf '%sbuilding %s failed after %s (exit %d):\n' "$p" "$what" "$took" "$rc" >&2
		cat "$errs" >&2
	fi
	rm -f "$errs"
	return "$rc"
}
