#!/usr/bin/env bash
# demo.sh: render the example fleet into hydrated branches of a throwaway
# local Git repository, as CI would on a push to main. No GitHub, no cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${DEMO_DIR:-$root/.demo}
render="$root/bin/render"

rm -rf "$demo/fleet" "$demo/remote.git"
mkdir -p "$demo"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git init -q --bare -b main "$demo/remote.git"
cp -r "$root/testdata/fleet" "$demo/fleet"
git -C "$demo/fleet" init -q -b main
git -C "$demo/fleet" add -A
git -C "$demo/fleet" commit -q -m "example fleet"
git -C "$demo/fleet" remote add origin "$demo/remote.git"
git -C "$demo/fleet" push -q origin main

echo "== render: push hydrated/<cluster>-next branches to the fleet's origin"
"$render" --fleet "$demo/fleet"
echo
echo "== render again: nothing changed, so no commit"
"$render" --fleet "$demo/fleet" | tail -1
echo
echo "== the branches, in $demo/remote.git"
git -C "$demo/remote.git" for-each-ref --format='  %(refname:short)  %(objectname:short)  %(subject)' refs/heads/hydrated
echo
echo "== Helm, in process and offline: orders is a chart in Git whose dependencies come from the"
echo "   repository (file://../common and a subchart vendored in charts/); billing is multi-source,"
echo "   its values read from a ref source (\$values/values/billing/<environment|cluster>.yaml)"
for c in prod-eu prod-us-east staging-us; do
	for app in orders billing; do
		m=$(git -C "$demo/remote.git" show "hydrated/$c-next:$app-$c/manifest.yaml")
		kinds=$(grep '^kind:' <<<"$m" | sed 's/^kind: //' | paste -sd' ' -)
		data=$(grep -E '^  (CURRENCY|KUBE_VERSION|REGION): ' <<<"$m" | sed 's/^ *//' | paste -sd' ' - || true)
		printf '  %-13s %-8s %s%s\n' "$c" "$app" "$kinds" "${data:+  ($data)}"
	done
done
echo
echo "== policy gate: every cluster's objects are checked, before anything is written, against the"
echo "   admission policies its own render deploys (the security-policies app sends"
echo "   policies/admission/deployment-guardrails.yaml to every cluster). Scale api-gateway to 30 in"
echo "   production: the three production clusters would deny it, so render refuses"
overlay="$demo/fleet/services/api-gateway/overlays/production/kustomization.yaml"
sed 's/count: 3$/count: 30/' "$overlay" >"$overlay.new" && mv "$overlay.new" "$overlay"
git -C "$demo/fleet" commit -q -am "scale api-gateway to 30"
before=$(git -C "$demo/remote.git" rev-parse --short hydrated/prod-eu-next)
if "$render" --fleet "$demo/fleet" 2>&1; then
	echo "the policy gate let a denied change through" >&2
	exit 1
else
	code=$?
fi
after=$(git -C "$demo/remote.git" rev-parse --short hydrated/prod-eu-next)
if [ "$after" = "$before" ]; then
	echo "   exit code $code; hydrated/prod-eu-next unchanged ($before before and after): nothing was written"
else
	echo "   exit code $code, but hydrated/prod-eu-next moved from $before to $after" >&2
	exit 1
fi
git -C "$demo/fleet" reset -q --hard HEAD~1
echo
echo "Look at one:"
echo "  git -C $demo/remote.git show hydrated/prod-us-east-next --stat"
echo "  git -C $demo/remote.git show hydrated/prod-us-east-next:api-gateway-prod-us-east/manifest.yaml"
echo "  git -C $demo/remote.git show hydrated/prod-eu-next:billing-prod-eu/manifest.yaml"
