# shellcheck shell=bash
# Sourced by scripts/generate and scripts/check-generated. It cds to the repo
# root, installs the pinned code generators into a cache directory (once per
# version) and puts them first on PATH:
#
#   - buf BUF_VERSION, from the npm registry (package @bufbuild/buf), or built
#     from the Go module proxy when npm is missing;
#   - protoc-gen-go and protoc-gen-connect-go at exactly the versions of
#     google.golang.org/protobuf and connectrpc.com/connect in go.mod, so the
#     generated code always matches the runtime it is compiled against.
#
# The cache is $GATEHOUSE_TOOLS_DIR, by default $(go env GOPATH)/gatehouse-tools.

BUF_VERSION=1.75.0

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools_dir=${GATEHOUSE_TOOLS_DIR:-$(go env GOPATH)/gatehouse-tools}
protobuf_version=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
connect_version=$(go list -m -f '{{.Version}}' connectrpc.com/connect)
mkdir -p "$tools_dir"

# install_go_tool NAME PACKAGE VERSION installs PACKAGE@VERSION as
# $tools_dir/NAME/VERSION/NAME unless it is already there.
install_go_tool() {
	local name=$1 pkg=$2 version=$3
	local dir="$tools_dir/$name/$version"
	[ -x "$dir/$name" ] && return 0
	log "installing $pkg@$version into $dir"
	local tmp
	tmp=$(mktemp -d "$tools_dir/.tmp.XXXXXX")
	GOBIN="$tmp" go install "$pkg@$version"
	mkdir -p "$dir"
	mv "$tmp/$name" "$dir/$name"
	rmdir "$tmp"
}

install_go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$protobuf_version"
install_go_tool protoc-gen-connect-go connectrpc.com/connect/cmd/protoc-gen-connect-go "$connect_version"

# buf comes from npm (a prebuilt binary, seconds). Without npm, or with
# GATEHOUSE_BUF_FROM=go, it is built from the Go module proxy instead, which
# takes minutes the first time; both give the same buf.
buf_from=${GATEHOUSE_BUF_FROM:-npm}
if [ "$buf_from" = npm ] && ! command -v npm >/dev/null 2>&1; then
	log "npm not found; building buf from the Go module proxy instead"
	buf_from=go
fi
case "$buf_from" in
npm)
	buf_bin="$tools_dir/buf/$BUF_VERSION/node_modules/.bin"
	if [ ! -x "$buf_bin/buf" ]; then
		buf_dir="$tools_dir/buf/$BUF_VERSION"
		log "installing @bufbuild/buf@$BUF_VERSION from npm into $buf_dir"
		buf_tmp=$(mktemp -d "$tools_dir/.tmp.XXXXXX")
		npm install --prefix "$buf_tmp" --no-save --no-audit --no-fund --loglevel=error \
			"@bufbuild/buf@$BUF_VERSION" >&2
		mkdir -p "$(dirname "$buf_dir")"
		rm -rf "$buf_dir"
		mv "$buf_tmp" "$buf_dir"
	fi
	;;
go)
	install_go_tool buf github.com/bufbuild/buf/cmd/buf "v$BUF_VERSION"
	buf_bin="$tools_dir/buf/v$BUF_VERSION"
	;;
*)
	log "GATEHOUSE_BUF_FROM must be npm or go, not '$buf_from'"
	exit 1
	;;
esac

PATH="$tools_dir/protoc-gen-go/$protobuf_version:$tools_dir/protoc-gen-connect-go/$connect_version:$buf_bin:$PATH"
export PATH

# Refuse to run with anything but the pinned versions (a half-written cache,
# or a PATH entry that shadows ours).
check_version() {
	local want=$1 got
	shift
	got=$("$@" --version 2>&1)
	case "$got" in
	*"$want") ;;
	*)
		log "$1 --version says '$got', want $want"
		exit 1
		;;
	esac
}
check_version "$BUF_VERSION" buf
check_version "${protobuf_version}" protoc-gen-go
check_version "${connect_version#v}" protoc-gen-connect-go
log "using buf $BUF_VERSION, protoc-gen-go $protobuf_version, protoc-gen-connect-go $connect_version"
