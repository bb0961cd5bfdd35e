#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries that the tests and the demo run, from the Go
# module proxy alone (setup-envtest's download bucket is unreachable here):
#
#   bin/k8s-$K8S_VERSION/{etcd,kube-apiserver,kube-controller-manager,kubectl}
#   bin/k8s-$K8S_VERSION/csi/{csi-provisioner,csi-attacher,csi-resizer,csi-snapshotter,
#     snapshot-controller} (with WITH_CSI=1)
#   bin/k8s-$K8S_VERSION/promtool, which checks and unit-tests deploy/monitoring's rules
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
set -Eeuo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}   # a k8s.io/kubernetes version the proxy serves
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}  # the go.etcd.io/etcd version k8s.io/kubernetes uses
# CSI sidecars, built with WITH_CSI=1. external-provisioner v6.4.0 needs a library the proxy
# refuses; these build here.
CSI_PROVISIONER=${CSI_PROVISIONER:-github.com/kubernetes-csi/external-provisioner/v6@v6.3.0}
CSI_RESIZER=${CSI_RESIZER:-github.com/kubernetes-csi/external-resizer/v2@v2.3.0}
CSI_SNAPSHOTTER=${CSI_SNAPSHOTTER:-github.com/kubernetes-csi/external-snapshotter/v8@v8.7.0}
# external-attacher: the proxy serves v4.12.0 and v4.13.0 (not the module path without /v4).
CSI_ATTACHER=${CSI_ATTACHER:-github.com/kubernetes-csi/external-attacher/v4@v4.13.0}
# promtool: built here rather than pinned with a tool directive in go.mod, because requiring
# github.com/prometheus/prometheus there upgrades our own dependencies (prometheus/common, zap,
# OpenTelemetry, the go directive) and adds about 115 go.mod lines for one test tool.
PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}  # the Go module version of Prometheus 3.16.0

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

# wrapmod MODULE VERSION OUT PKG...: build PKGs of MODULE@VERSION, whose go.mod has replace
# directives, from a wrapper module that carries them: replaces pointing at sibling directories
# (../api, ./staging/x) become the published module at the same version, and guards against bad
# imports (X => ./FORBIDDEN_DEPENDENCY) are dropped.
wrapmod() {
	local mod=$1 ver=$2 out=$3; shift 3
	local gomod w
	gomod=$(modinfo "$mod@$ver" GoMod)
	w=$(mktemp -d)
	{
		printf 'module local/wrap\n\ngo %s\n\nrequire %s %s\n\nreplace (\n' "$(goversion "$gomod")" "$mod" "$ver"
		sed -n '/^replace (/,/^)/{/=>/p}; /^replace [^(]/{s/^replace //;p}' "$gomod" |
			sed 's/^[[:space:]]*//' | { grep -v FORBIDDEN_DEPENDENCY || true; } |
			while read -r lhs _ rhs rver; do
				case $rhs in
				./* | ../*) printf '\t%s => %s %s\n' "$lhs" "$lhs" "$ver" ;;
				*) printf '\t%s => %s %s\n' "$lhs" "$rhs" "${rver:-}" ;;
				esac
			done
		printf ')\n'
	} >"$w/go.mod"
	local sum
	sum="$(modinfo "$mod@$ver" Dir)/go.sum"
	if [ -f "$sum" ]; then install -m 644 "$sum" "$w/go.sum"; fi
	build "$w" "$out" "$@"
}

start=$SECONDS

# --- etcd -------------------------------------------------------------------------------------
if [[ "$(version "$DEST/etcd")" == *"etcd Version: ${ETCD_VERSION#v}"* ]]; then
	step "etcd $ETCD_VERSION: present"
else
	step "etcd $ETCD_VERSION: building (about 1 minute cold)"
	tmp=$(mktemp -d)
	wrapmod go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$tmp/etcd" go.etcd.io/etcd/server/v3
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

# --- CSI sidecars (WITH_CSI=1): external-provisioner, external-attacher, external-resizer,
# csi-snapshotter and snapshot-controller, for the end-to-end tests and the demo ------------------
if [ "${WITH_CSI:-0}" = 1 ]; then
	mkdir -p "$DEST/csi"
	stamp="$DEST/csi/VERSIONS"
	want_csi="$CSI_PROVISIONER $CSI_RESIZER $CSI_SNAPSHOTTER"
	if [ "$(cat "$stamp" 2>/dev/null)" = "$want_csi" ]; then
		step "CSI sidecars: present"
	else
		step "CSI sidecars: building (about 6 minutes cold)"
		tmp=$(mktemp -d)
		wrapmod "${CSI_PROVISIONER%@*}" "${CSI_PROVISIONER#*@}" "$tmp/" "${CSI_PROVISIONER%@*}/cmd/csi-provisioner"
		wrapmod "${CSI_RESIZER%@*}" "${CSI_RESIZER#*@}" "$tmp/" "${CSI_RESIZER%@*}/cmd/csi-resizer"
		wrapmod "${CSI_SNAPSHOTTER%@*}" "${CSI_SNAPSHOTTER#*@}" "$tmp/" \
			"${CSI_SNAPSHOTTER%@*}/cmd/csi-snapshotter" "${CSI_SNAPSHOTTER%@*}/cmd/snapshot-controller"
		mv "$tmp"/* "$DEST/csi/" && rm -rf "$tmp"
		echo "$want_csi" >"$stamp"
	fi
	# The attacher came later: it is stamped by its own --version ("<path> <version>"), so that a
	# bin/ built before it gains it without rebuilding the others.
	if [[ "$(version "$DEST/csi/csi-attacher")" == *" ${CSI_ATTACHER#*@}" ]]; then
		step "csi-attacher ${CSI_ATTACHER#*@}: present"
	else
		step "csi-attacher ${CSI_ATTACHER#*@}: building (about 2 minutes cold)"
		tmp=$(mktemp -d)
		LDFLAGS="-X main.version=${CSI_ATTACHER#*@}" wrapmod "${CSI_ATTACHER%@*}" "${CSI_ATTACHER#*@}" "$tmp/" "${CSI_ATTACHER%@*}/cmd/csi-attacher"
		mv "$tmp"/* "$DEST/csi/" && rm -rf "$tmp"
	fi
fi

# --- promtool ---------------------------------------------------------------------------------
# Without Prometheus's service discoveries (build tag remove_all_sd: rules need none), which
# would take most of the build: about 4 minutes cold on 2 cores.
if [[ "$(version "$DEST/promtool")" == *"version ${PROMTOOL_VERSION#v} "* ]]; then
	step "promtool $PROMTOOL_VERSION: present"
else
	step "promtool $PROMTOOL_VERSION: building (about 4 minutes cold)"
	tmp=$(mktemp -d)
	GOBIN=$tmp go install -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=${PROMTOOL_VERSION#v}" \
		"github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
	mv "$tmp/promtool" "$DEST/promtool" && rm -rf "$tmp"
fi

for b in etcd kube-apiserver kube-controller-manager kubectl promtool; do
	[ -x "$DEST/$b" ] || fail "$DEST/$b is missing after the build"
done
step "ready in $((SECONDS - start))s: $("$DEST/etcd" --version | sed -n 1p); $(version "$DEST/kube-apiserver")"
echo "$DEST"
