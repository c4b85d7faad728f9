#!/usr/bin/env bash
# fleet-down.sh: stop everything hack/fleet-demo.sh started — the local
# clusters (one localfleet process, whose pid is in $DEMO_DIR/fleet.pid, and
# the etcd, kube-apiserver, controller-manager, scheduler and kwok processes
# it runs) — and remove what it wrote under $DEMO_DIR: the clusters' data,
# the kubeconfig, the fleet checkout and its bare remote. Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${DEMO_DIR:-$root/.demo}
pidfile=$demo/fleet.pid

if [[ -f $pidfile ]]; then
	pid=$(<"$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		echo "== stopping the local fleet (localfleet pid $pid)"
		# localfleet stops its clusters on SIGTERM; their processes also
		# die with it (parent-death signal) if it must be killed.
		kill -TERM "$pid"
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "   localfleet did not stop within 30s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
		fi
	else
		echo "== the local fleet (pid $pid) is not running"
	fi
	rm -f "$pidfile"
else
	echo "== no local fleet to stop ($pidfile does not exist)"
fi

# Any process still using the clusters' directories would be one of ours
# that outlived localfleet: name it rather than guess.
if left=$(pgrep -f -- "$demo/clusters/" 2>/dev/null); then
	echo "fleet-down: processes still running from $demo/clusters: $(echo $left): stop them with kill <pid>" >&2
	exit 1
fi
rm -rf "$demo/clusters" "$demo/logs" "$demo/fleet.kubeconfig" "$demo/localfleet" "$demo/localfleet.log" "$demo/fleet" "$demo/remote.git"
rmdir "$demo" 2>/dev/null || true
echo "== removed the clusters' data, the kubeconfig and the demo repositories under $demo"
