#!/usr/bin/env bash
# walkthrough.sh: start gatehouse in memory, load the multitenant example and
# check that a dozen decisions come out as this example says they should.
#
# Run it from anywhere: examples/multitenant/walkthrough.sh
# GATEHOUSE_BIN=/path/to/gatehouse uses that binary instead of building one.
#
# Decisions go to stdout, progress to stderr. Exits 0 when every decision is
# as expected, 1 at the first that is not (showing the command's output).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-multitenant.XXXXXX")
server_pid=""

cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

progress() { printf 'walkthrough: %s\n' "$*" >&2; }
fail() {
	printf 'walkthrough: %s\n' "$*" >&2
	exit 1
}

# 1. The binary and the tokens.
if [[ -n ${GATEHOUSE_BIN:-} ]]; then
	gatehouse=$GATEHOUSE_BIN
	progress "using $gatehouse"
else
	gatehouse=$work/gatehouse
	progress "building gatehouse"
	(cd "$root" && go build -o "$gatehouse" ./cmd/gatehouse)
fi
progress "minting a key set and tokens into $work"
(cd "$root" && go run ./examples/multitenant/mint --dir "$work")

# 2. The server, on a free loopback port, trusting the example's issuer.
progress "starting gatehouse serve --datastore memory"
"$gatehouse" serve --addr 127.0.0.1:0 --datastore memory \
	--jwt-issuer "example=https://idp.example.test/,jwks=$work/jwks.json,audience=gatehouse,subject-type=user" \
	2>"$work/server.log" &
server_pid=$!

addr=""
for _ in $(seq 300); do
	addr=$(sed -n 's/.*"msg":"gatehouse serving".*"addr":"\([^"]*\)".*/\1/p' "$work/server.log")
	[[ -n $addr ]] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$work/server.log" >&2
		fail "gatehouse serve exited before serving"
	fi
	sleep 0.1
done
if [[ -z $addr ]]; then
	cat "$work/server.log" >&2
	fail "gatehouse did not log its address within 30s"
fi
export GATEHOUSE_ADDR=$addr
progress "gatehouse serving on $addr"

# 3. The example's data.
progress "writing schema.zed, relationships.txt and attributes.txt"
"$gatehouse" schema write "$here/schema.zed" >/dev/null
"$gatehouse" rel import "$here/relationships.txt" >/dev/null
while IFS= read -r line; do
	[[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
	read -r -a fields <<<"$line"
	"$gatehouse" attr set "${fields[@]}" >/dev/null
done <"$here/attributes.txt"

# 4. The decisions.
#
# decide EXPECTED TOKEN RESOURCE PERMISSION CONTEXT [FLAG...]
#   EXPECTED  allowed, denied, "conditional (missing: NAMES)", or
#             "refused: TEXT" (non-zero exit, no decision, TEXT in the error)
#   TOKEN     the token to check with, $work/TOKEN.jwt
#   CONTEXT   the request's caveat context as JSON, or "" for none
#   FLAG      more flags for gatehouse check (--explain prints its output)
decisions=0
decide() {
	local expected=$1 token=$2 resource=$3 permission=$4 context=$5
	shift 5
	local args=(check "$resource" "$permission" --subject-token "$(<"$work/$token.jwt")")
	[[ -n $context ]] && args+=(--context "$context")
	args+=("$@")

	local out rc=0
	out=$("$gatehouse" "${args[@]}" 2>&1) || rc=$?
	local got
	case $rc in
	0) got=allowed ;;
	1) got=denied ;;
	*)
		got=$(grep -m1 '^conditional' <<<"$out" || true)
		if [[ -z $got ]]; then
			got=$(tail -n1 <<<"$out")
			got="refused: ${got#gatehouse: check: }"
		fi
		;;
	esac

	local ok=false
	case $expected in
	refused:*) [[ $got == refused:* && $got == *"${expected#refused: }"* ]] && ok=true ;;
	*) [[ $got == "$expected" ]] && ok=true ;;
	esac

	decisions=$((decisions + 1))
	printf '%2d. %-28s %-4s %-27s context %-25s expected %s, got %s\n' \
		"$decisions" "$(who "$token")" "$permission" "$resource" "${context:-(none)}" "$expected" "$got"
	if [[ $* == *--explain* ]]; then
		sed 's/^/      | /' <<<"$out"
	fi
	if ! $ok; then
		printf '%s\n' "$out" >&2
		fail "decision $decisions: expected $expected, got $got"
	fi
}

# who describes a token for the decision lines.
who() {
	case $1 in
	alice) echo "alice (acme, internal)" ;;
	bob) echo "bob (acme, confidential)" ;;
	carol) echo "carol (globex, confidential)" ;;
	expired) echo "alice, expired token" ;;
	wrong-audience) echo "alice, token for \"billing\"" ;;
	*) echo "$1" ;;
	esac
}

prod='{"environment":"prod"}'
staging='{"environment":"staging"}'

echo "== tenant isolation: same_tenant on every access relationship"
decide allowed alice document:acme-handbook view "$prod"
decide denied alice document:globex-pricing view "$prod" --explain
decide allowed carol document:globex-pricing view "$prod"

echo "== environments: environment_allowed, environment from the request context"
decide allowed alice document:acme-release-notes view "$staging"
decide denied alice document:acme-release-notes view "$prod"
decide "conditional (missing: environment)" alice document:acme-runbook view ""

echo "== classification: clearance_covers_classification"
decide denied alice document:acme-roadmap view "$prod"
decide allowed bob document:acme-roadmap view "$prod"

echo "== nested teams and folders"
decide allowed alice document:acme-runbook view "$prod"
decide denied alice document:acme-runbook edit "$prod"
decide allowed bob document:acme-runbook edit "$prod"
decide denied carol document:acme-runbook view "$prod"

echo "== tokens gatehouse refuses"
decide "refused: subject token expired" expired document:acme-handbook view "$prod"
decide "refused: subject token wrong audience" wrong-audience document:acme-handbook view "$prod"
# carol's token cannot lend her globex claims to a check of alice's stale share.
decide "refused: is not the subject token's user:carol" carol document:globex-pricing view "$prod" user:alice

echo "walkthrough: $decisions decisions as expected"
