#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries that the tests and the demo run, from the Go
# module proxy alone (setup-envtest's download bucket is unreachable here):
#
#   bin/k8s-$K8S_VERSION/{etcd,kube-apiserver,kube-controller-manager,kubectl}
#
# Usage: hack/install-test-binaries.sh [DEST]; then export KUBEBUILDER_ASSETS=DEST.
# The last line printed is DEST, so callers may capture it.
#
# Idempotent: a binary that already reports the pinned version is not rebuilt, and a second run
# takes a few seconds. The first run on a cold machine takes about 6 minutes on 2 cores and needs
# about 4 GB of module and build cache.
#
# How: `go install pkg@version` refuses modules whose go.mod has replace directives, which both
# etcd's server module and k8s.io/kubernetes have. So each is built from a throwaway wrapper
# module that requires it and carries its replaces; for Kubernetes, every staging module
# (k8s.io/x => ./staging/src/k8s.io/x) is replaced by the published k8s.io/x v0.<minor>.<patch>.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}   # a k8s.io/kubernetes version the proxy serves
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}  # the go.etcd.io/etcd version k8s.io/kubernetes uses

root=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$root/bin/k8s-$K8S_VERSION}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath"

step() { printf '[install-test-binaries] %s\n' "$*" >&2; }
fail() { printf '[install-test-binaries] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# modinfo MODULE@VERSION FIELD prints a field of `go mod download -json` (GoMod, Dir, ...).
modinfo() {
	go mod download -json "$1" | sed -n "s/.*\"$2\": \"\(.*\)\".*/\1/p"
}

# goversion GOMOD prints the go directive of a go.mod file.
goversion() { awk '$1=="go"{print $2; exit}' "$1"; }

# version BINARY prints what the binary says of its version, or nothing.
version() { "$1" --version 2>/dev/null || true; }

# build WRAPDIR OUT PKG...: tidy the wrapper module in WRAPDIR, build PKGs with `go build -o OUT`
# (a file for one package, a directory ending in / for several), then remove WRAPDIR.
build() {
	local w=$1 out=$2; shift 2
	{ printf '//go:build tools\n\npackage tools\n\nimport (\n'; printf '\t_ "%s"\n' "$@"; printf ')\n'; } >"$w/tools.go"
	(cd "$w" && go mod tidy && go build -ldflags "-s -w ${LDFLAGS:-}" -o "$out" "$@")
	rm -rf "$w"
}

start=$SECONDS

# --- etcd -------------------------------------------------------------------------------------
if [[ "$(version "$DEST/etcd")" == *"etcd Version: ${ETCD_VERSION#v}"* ]]; then
	step "etcd $ETCD_VERSION: present"
else
	step "etcd $ETCD_VERSION: building (about 1 minute cold)"
	mod=go.etcd.io/etcd/server/v3
	gomod=$(modinfo "$mod@$ETCD_VERSION" GoMod)
	w=$(mktemp -d)
	{
		printf 'module local/etcdwrap\n\ngo %s\n\nrequire %s %s\n\nreplace (\n' "$(goversion "$gomod")" "$mod" "$ETCD_VERSION"
		# etcd's own replaces point at sibling directories (../api, ../client/v3...): map each
		# to the published module at the same version. Drop its guards against bad imports
		# (X => ./FORBIDDEN_DEPENDENCY), which name no real module.
		sed -n '/^replace (/,/^)/{/=>/p}; /^replace [^(]/{s/^replace //;p}' "$gomod" |
			sed 's/^[[:space:]]*//' | grep -v FORBIDDEN_DEPENDENCY |
			while read -r lhs _ rhs rver; do
				case $rhs in
				./* | ../*) printf '\t%s => %s %s\n' "$lhs" "$lhs" "$ETCD_VERSION" ;;
				*) printf '\t%s => %s %s\n' "$lhs" "$rhs" "${rver:-}" ;;
				esac
			done
		printf ')\n'
	} >"$w/go.mod"
	install -m 644 "$(modinfo "$mod@$ETCD_VERSION" Dir)/go.sum" "$w/go.sum"
	tmp=$(mktemp -d)
	build "$w" "$tmp/etcd" "$mod"
	mv "$tmp/etcd" "$DEST/etcd" && rm -rf "$tmp"
fi

# --- kube-apiserver, kube-controller-manager, kubectl -----------------------------------------
want="Kubernetes $K8S_VERSION"
if [ "$(version "$DEST/kube-apiserver")" = "$want" ] &&
	[ "$(version "$DEST/kube-controller-manager")" = "$want" ] &&
	[[ "$("$DEST/kubectl" version --client 2>/dev/null || true)" == *"Client Version: $K8S_VERSION"* ]]; then
	step "kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION: present"
else
	step "kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION: building (about 5 minutes cold)"
	minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	gomod=$(modinfo "k8s.io/kubernetes@$K8S_VERSION" GoMod)
	w=$(mktemp -d)
	{
		printf 'module local/k8swrap\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$(goversion "$gomod")" "$K8S_VERSION"
		sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$gomod" |
			sort -u | while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#v1.}"; done
		printf ')\n'
	} >"$w/go.mod"
	install -m 644 "$(modinfo "k8s.io/kubernetes@$K8S_VERSION" Dir)/go.sum" "$w/go.sum"
	# Without these the binaries report "v0.0.0-master+$Format:%H$".
	LDFLAGS="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
	LDFLAGS="$LDFLAGS -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	LDFLAGS="$LDFLAGS -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
	LDFLAGS="$LDFLAGS -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	tmp=$(mktemp -d)
	LDFLAGS=$LDFLAGS build "$w" "$tmp/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
	mv "$tmp"/* "$DEST/" && rm -rf "$tmp"
fi

for b in etcd kube-apiserver kube-controller-manager kubectl; do
	[ -x "$DEST/$b" ] || fail "$DEST/$b is missing after the build"
done
step "ready in $((SECONDS - start))s: $("$DEST/etcd" --version | head -1); $(version "$DEST/kube-apiserver")"
echo "$DEST"
