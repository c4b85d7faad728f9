#!/usr/bin/env bash
# fleet-demo.sh: the whole GitOps loop on this machine, with real local
# clusters and no GitHub. It starts one local cluster per rollout tier of
# the example fleet (testdata/fleet), renders the fleet into a bare Git
# remote, promotes tier by tier with the local forge, applies, verifies,
# catches and heals a drift, then rolls a change out canary → early →
# general. hack/fleet-down.sh (make fleet-down) stops it all.
#
# Environment: DEMO_DIR (default .demo), FLOTILLA_CMDS (render, promote,
# apply, verify; default bin/), FLOTILLA_BIN (etcd, kube-apiserver, kwok,
# kubectl …; default bin/), DEMO_TIMEOUT (verify --wait, default 3m).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${DEMO_DIR:-$root/.demo}
cmds=${FLOTILLA_CMDS:-$root/bin}
tools=${FLOTILLA_BIN:-$root/bin}
timeout=${DEMO_TIMEOUT:-3m}
export FLOTILLA_BIN=$tools

# One cluster per tier of the storefront's rollout (the progressive-rollout
# ApplicationSet's steps select the rollout-tier label): prod-us-east is the
# canary, prod-us-west the early tier, and edge-01 stands for the general
# tier. Three control planes (≈ 0.55 GiB each, 1.6 GiB in all) keep a 2-core laptop usable;
# edge-01 rather than prod-eu because prod-eu's monitoring app has a
# ServiceMonitor, whose CRD (the Prometheus Operator's) a bare cluster lacks.
tiers=(canary early general)
clusters=(prod-us-east prod-us-west edge-01)

kc=$demo/fleet.kubeconfig
remote=$demo/remote.git
fleet=$demo/fleet
pidfile=$demo/fleet.pid
kubectl="$tools/kubectl --kubeconfig $kc"

# Bold step titles on a terminal, never with NO_COLOR or TERM=dumb: the
# rule of every command (hack/lib/term.sh).
# shellcheck source=hack/lib/term.sh
source "$root/hack/lib/term.sh"
bold='' plain=''
if term_colour 1; then bold=$'\033[1m' plain=$'\033[0m'; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
look() { printf '   look: %s\n' "$*"; }
fail() {
	echo "fleet-demo: $*" >&2
	echo "fleet-demo: the clusters keep running for you to look; stop them with: make fleet-down" >&2
	exit 1
}

for c in render promote apply verify; do
	[[ -x $cmds/$c ]] || { echo "fleet-demo: $cmds/$c is missing: run make build" >&2; exit 2; }
done
[[ -x $tools/kubectl ]] || { echo "fleet-demo: $tools/kubectl is missing: run make tools" >&2; exit 2; }
if [[ -f $pidfile ]] && kill -0 "$(<"$pidfile")" 2>/dev/null; then
	echo "fleet-demo: a local fleet is already running (pid $(<"$pidfile")): stop it with make fleet-down" >&2
	exit 2
fi

begin=$(date +%s)
trap 'echo; echo "fleet-demo: interrupted; the clusters keep running: stop them with make fleet-down" >&2; exit 130' INT TERM
mkdir -p "$demo/logs"
say "1. start ${#clusters[@]} local clusters: ${clusters[*]} (kube-apiserver, etcd, controller-manager, scheduler, kwok's fake node)"
# Build once, run in the background in its own session (so closing this
# terminal or Ctrl-C here does not stop it), and remember its pid.
(cd "$root" && go build -o "$demo/localfleet" ./hack/localfleet)
setsid "$demo/localfleet" --clusters "$(IFS=,; echo "${clusters[*]}")" --kubeconfig "$kc" --dir "$demo/clusters" \
	>"$demo/localfleet.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 1800); do
	grep -q 'clusters up' "$demo/localfleet.log" 2>/dev/null && break
	kill -0 "$(<"$pidfile")" 2>/dev/null || { cat "$demo/localfleet.log" >&2; rm -f "$pidfile"; echo "fleet-demo: the local fleet did not start (log above)" >&2; exit 1; }
	sleep 0.1
done
grep -q 'clusters up' "$demo/localfleet.log" || fail "the local fleet did not start within 3 minutes: see $demo/localfleet.log"
sed -n '1,/^$/p;/^CONTEXT/,/^$/p' "$demo/localfleet.log" | sed '/^$/d;s/^/   /'
echo "   one per rollout tier of the storefront (label rollout-tier): prod-us-east canary, prod-us-west early, edge-01 general."
echo "   The fleet's other clusters (dev-us, staging-eu, staging-us, prod-eu, edge-02) are rendered and promoted in Git"
echo "   but have no local cluster; prod-eu would also need the Prometheus Operator's CRDs for its ServiceMonitor."
look "$kubectl --context prod-us-east get nodes"
look "log: $demo/localfleet.log   pid: $(<"$pidfile") ($pidfile)"

say "2. copy the example fleet into a Git repository ($fleet) whose origin is a bare remote ($remote)"
rm -rf "$fleet" "$remote"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
git init -q --bare -b main "$remote"
cp -r "$root/testdata/fleet" "$fleet"
git -C "$fleet" init -q -b main
git -C "$fleet" add -A
git -C "$fleet" commit -q -m "example fleet"
git -C "$fleet" remote add origin "$remote"
git -C "$fleet" push -q origin main

say "3. render: every cluster's manifests, committed to hydrated/<cluster>-next on the remote"
"$cmds/render" --fleet "$fleet" --remote "$remote" | sed 's/^/   /'
look "git -C $remote branch --list 'hydrated/*'"
look "git -C $remote show hydrated/prod-us-east-next --stat"

# apply_verify applies each cluster whose live branch moved since it was
# last applied, and waits until verify reports it Synced and Healthy,
# posting the flotilla/verify/<app> statuses promote's gates read.
declare -A applied
apply_verify() {
	for c in "${clusters[@]}"; do
		head=$(git -C "$remote" rev-parse -q --verify "refs/heads/hydrated/$c") || continue
		[[ ${applied[$c]:-} == "$head" ]] && continue
		echo "   -- apply $c: hydrated/$c is at ${head:0:12}"
		"$cmds/apply" --remote "$remote" --cluster "$c" --kubeconfig "$kc" | sed 's/^/      /'
		echo "   -- verify $c --wait: health, then one flotilla/verify/<app> status per app on that commit"
		"$cmds/verify" --remote "$remote" --cluster "$c" --kubeconfig "$kc" --forge local --wait --timeout "$timeout" | sed '/^ *$/d;s/^/      /' ||
			fail "verify $c did not report Synced and Healthy within $timeout"
		applied[$c]=$head
	done
}

# rollout runs one promote pass per tier, applying and verifying after
# each, and shows which commit each cluster's live branch is at. promote
# acts on every cluster of the fleet (the ones without a local cluster
# too); the full output of each pass is kept in $demo/logs.
mine=$(IFS='|'; echo "${clusters[*]}")
rollout() {
	for i in "${!tiers[@]}"; do
		log=$demo/logs/$1.$((i + 1))-promote.txt
		say "$1.$((i + 1)) promote, pass $((i + 1)) (tier ${tiers[$i]} opens once the tier before it is verified)"
		"$cmds/promote" --fleet "$fleet" --forge local --remote "$remote" >"$log"
		echo "   the tiered app, storefront, on the local clusters (step, app, cluster, state, waiting for):"
		grep -E "storefront-($mine)\b" "$log" | grep -Ev 'opened|merged|updated' | sed 's/^/      /' || true
		echo "   pull requests acted on for the local clusters (cluster, action, apps, result):"
		grep -E "($mine).*(opened|merged|updated)" "$log" | sed 's/^/      /' || echo "      (none)"
		echo "   full output (all 8 clusters of the fleet): $log"
		apply_verify
		echo "   live branches:"
		for c in "${clusters[@]}"; do
			printf '      %-24s %s\n' "hydrated/$c" "$(git -C "$remote" log -1 --format='%h %<(72,trunc)%s' "hydrated/$c" 2>/dev/null || echo '(not promoted yet)')"
		done
	done
	look "git -C $remote log --oneline --graph hydrated/prod-us-west"
	look "git -C $remote show refs/flotilla/forge:state.json   # the local forge's pull requests"
	look "git -C $remote notes --ref flotilla show hydrated/edge-01   # verify's statuses on edge-01's live commit"
}

say "4. roll the fleet out tier by tier"
rollout 4
look "$kubectl --context prod-us-east get deploy -A"

say "5. drift: someone scales the canary's storefront by hand"
echo "   $ kubectl --context prod-us-east -n storefront scale deployment/storefront --replicas=1"
$kubectl --context prod-us-east -n storefront scale deployment/storefront --replicas=1 | sed "s/^/   /"
echo "   verify catches it (exit 1):"
if "$cmds/verify" --remote "$remote" --cluster prod-us-east --kubeconfig "$kc" --forge local --app storefront-prod-us-east | sed '/^ *$/d;s/^/      /'; then
	fail "verify did not report the drift"
fi
echo "   verify --heal re-applies what drifted, then verifies again:"
"$cmds/verify" --remote "$remote" --cluster prod-us-east --kubeconfig "$kc" --forge local --heal --wait --timeout "$timeout" | sed '/^ *$/d;s/^/      /' ||
	fail "verify --heal did not bring prod-us-east back to Synced and Healthy"
look "$kubectl --context prod-us-east -n storefront get deploy storefront"

say "6. a change: the storefront's production overlay goes from 4 to 5 replicas"
sed -i 's/count: 4/count: 5/' "$fleet/apps/storefront/overlays/production/kustomization.yaml"
git -C "$fleet" commit -q -am "storefront: 5 replicas in production"
git -C "$fleet" push -q origin main
git -C "$fleet" log -1 --stat --format='   %h %s' | sed 's/^/   /'
"$cmds/render" --fleet "$fleet" --remote "$remote" | sed 's/^/   /'
rollout 6
for c in "${clusters[@]}"; do
	printf '   %-14s storefront replicas: %s\n' "$c" "$($kubectl --context "$c" -n storefront get deploy storefront -o jsonpath='{.spec.replicas}')"
done

say "done in $(($(date +%s) - begin))s. The clusters keep running:"
echo "   export KUBECONFIG=$kc   # contexts: ${clusters[*]}"
echo "   $tools/kubectl get deploy -A --context prod-us-west"
echo "   $cmds/flotilla status --fleet $fleet --forge local --remote $remote"
echo "   $cmds/flotilla verify --remote $remote --cluster edge-01 --kubeconfig $kc"
echo "   stop everything: make fleet-down"
