#!/usr/bin/env bash
# build.sh builds the test control plane's binaries from Go modules into
# bin/, keyed by version, so a second run builds nothing. Nothing is downloaded
# but Go modules. Usage: hack/tools/build.sh [BINDIR]   (default: <repo>/bin)
# Progress on stderr when it is a terminal (hack/lib/term.sh); in a log,
# one line per tool built.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
# The Helm CLI of the major version Flotilla renders with (its Go SDK in
# go.mod): the fidelity test compares Flotilla's output with it.
HELM_VERSION=v4.3.1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bindir=${1:-$root/bin}
mkdir -p "$bindir"
bindir=$(cd "$bindir" && pwd)

log() { printf 'tools: %s\n' "$*" >&2; }

# Progress (hack/lib/term.sh): on a terminal, every tool gets a line — a
# build counts its seconds, a cached tool says so; in a log (CI), one line
# per tool built and none for a cached one.
# shellcheck source=hack/lib/term.sh
source "$root/hack/lib/term.sh"
TERM_PREFIX='tools: '
total=7 n=0 built=0 cached=0

# tool NAME VERSION FILE CMD...: builds FILE with CMD unless it is there.
tool() {
	local name=$1 version=$2 file=$3
	shift 3
	n=$((n + 1))
	if [[ -x $file ]]; then
		cached=$((cached + 1))
		if term_progress; then log "$name $version ($n/$total): cached"; fi
		return 0
	fi
	built=$((built + 1))
	term_build "$name $version ($n/$total)" "$@"
}

# The builders run under term_build, where errexit is off: each stops at
# its first failure with &&, and renames its output into place only after a
# complete build.
k8s_dir=$bindir/k8s-$K8S_VERSION
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
build_kube() {
	(cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$k8s_dir/$1.tmp" "k8s.io/kubernetes/cmd/$1") &&
		mv "$k8s_dir/$1.tmp" "$k8s_dir/$1"
}
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
	tool "$cmd" "$K8S_VERSION" "$k8s_dir/$cmd" build_kube "$cmd"
done

etcd_dir=$bindir/etcd-$ETCD_VERSION
build_etcd() {
	(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$etcd_dir/etcd.tmp" go.etcd.io/etcd/server/v3) &&
		mv "$etcd_dir/etcd.tmp" "$etcd_dir/etcd"
}
tool etcd "$ETCD_VERSION" "$etcd_dir/etcd" build_etcd

kwok_dir=$bindir/kwok-$KWOK_VERSION
build_kwok() {
	mkdir -p "$kwok_dir" &&
		GOBIN="$kwok_dir" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}
tool kwok "$KWOK_VERSION" "$kwok_dir/kwok" build_kwok
# kwok refuses to start without stages. Written on every run (it takes
# no build), so a changed list reaches bin/ dirs built before the change;
# kubetest refuses a stages file that lacks one. From the same kwok
# version: the "fast" node and pod lifecycles; the node heartbeat that
# goes with the node Lease kubetest has kwok renew (kwok's pairing, as
# kwokctl's); and ours, which makes pods Ready again after the node was
# NotReady.
src=$(cd "$here/kube" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
{
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo '---'
		cat "$src/kustomize/stage/$f"
	done
	echo '---'
	cat "$here/kwok/pod-ready-restore.yaml"
} > "$kwok_dir/stages.yaml.tmp"
if cmp -s "$kwok_dir/stages.yaml.tmp" "$kwok_dir/stages.yaml"; then
	rm "$kwok_dir/stages.yaml.tmp"
else
	log "writing kwok stages"
	mv "$kwok_dir/stages.yaml.tmp" "$kwok_dir/stages.yaml"
fi

helm_dir=$bindir/helm-$HELM_VERSION
build_helm() {
	mkdir -p "$helm_dir" &&
		GOBIN="$helm_dir" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
}
tool helm "$HELM_VERSION" "$helm_dir/helm" build_helm

# Stable names for the versioned binaries, for kubetest and for people.
for f in "$k8s_dir"/* "$etcd_dir/etcd" "$kwok_dir/kwok" "$helm_dir/helm"; do
	ln -sfn "${f#"$bindir"/}" "$bindir/$(basename "$f")"
done
ln -sfn "kwok-$KWOK_VERSION/stages.yaml" "$bindir/kwok-stages.yaml"
log "ready in $bindir ($built built, $cached cached)"
