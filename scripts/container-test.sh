#!/usr/bin/env bash
# Builds the container image from a built binary, and tests it.
#
#   scripts/container-test.sh build BIN   build localhost/mailprobe:dev with podman
#   scripts/container-test.sh test BIN    build, then run `reset send --embedded`
#                                         (and `version`) from the image
#
# The image is run with `podman run` when the sandbox allows it; where
# podman run is refused (setrlimit denied in some containers), the image's
# own filesystem is mounted and the binary is run chrooted into it as the
# image's user, which proves the same: the binary starts on the empty base
# with only what the image holds.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:?usage: container-test.sh build|test BIN}"
bin="${2:?usage: container-test.sh build|test BIN}"
image="${IMAGE:-localhost/mailprobe:dev}"
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

command -v podman >/dev/null || { echo "container-test: podman is not installed (apt-get install podman)" >&2; exit 1; }
[[ -s "$ca" ]] || { echo "container-test: no CA bundle at $ca" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/mailprobe"
cp "$ca" "$ctx/ca-certificates.crt"
cp Dockerfile "$ctx/Dockerfile"
podman build --quiet -t "$image" "$ctx" >/dev/null
echo "container-test: built $image ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
[[ "$mode" == build ]] && exit 0

user="$(podman image inspect --format '{{.Config.User}}' "$image")"
run_in_image() {
	if podman run --rm --network host "$image" "$@" 2>"$ctx/err"; then
		return 0
	fi
	if grep -q 'setrlimit\|OCI permission denied' "$ctx/err"; then
		echo "container-test: podman run refused here ($(tail -1 "$ctx/err")); running from the image's filesystem" >&2
		local root
		root="$(podman image mount "$image")"
		local rc=0
		chroot --userspec="$user" "$root" /usr/bin/mailprobe "$@" || rc=$?
		podman image unmount "$image" >/dev/null
		return $rc
	fi
	cat "$ctx/err" >&2
	return 1
}
run_in_image version
rc=0
run_in_image reset send --embedded --format json >"$ctx/reset.json" || rc=$?
if ((rc != 0)) || ! grep -q '"incomplete": false' "$ctx/reset.json"; then
	echo "container-test: reset send --embedded exited $rc in the image:" >&2
	head -c 2000 "$ctx/reset.json" >&2
	exit 1
fi
echo "container-test: $image runs reset send --embedded (exit 0)"
