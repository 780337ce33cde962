#!/bin/sh
# netns_run.sh COMMAND [ARGS...]
#
# Runs COMMAND in a fresh network and mount namespace, for tests that attach
# BPF programs to the network namespace (sk_lookup) and must neither see nor
# disturb the host's:
#   - `lo` is brought up (127.0.0.0/8 and ::1 are local);
#   - fd00:77::/44 is routed locally on lo, so that the IPv6 edge pool is as
#     local as the IPv4 one (127.77.0.0/20 lies in 127.0.0.0/8);
#   - a bpf filesystem is mounted on a temporary directory, private to the
#     mount namespace; its path is exported as AGILITY_BPFFS.
# The namespaces vanish with their last process; the directory is removed.
# A pid namespace is created as well (see below); /proc is remounted for it.
#
# Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN, plus CAP_BPF for the test) and
# unshare(1) and ip(8). Without them it fails (exit 1) with the reason: it
# never reports a skip, so that a misconfigured CI does not pass silently.
set -eu

die() {
  echo "netns_run.sh: $*" >&2
  exit 1
}

[ $# -gt 0 ] || die "usage: netns_run.sh COMMAND [ARGS...]"

if [ "${AGILITY_NETNS_RUN_INNER:-}" != "$$" ]; then
  # Outside: check what we need, then re-run this script in the namespaces.
  [ "$(id -u)" -eq 0 ] || die "must run as root (uid $(id -u)): it creates network and mount namespaces, mounts bpffs and loads BPF"
  command -v unshare >/dev/null 2>&1 || die "unshare(1) not found (util-linux)"
  command -v ip >/dev/null 2>&1 || die "ip(8) not found (iproute2)"
  script=$(readlink -f "$0")
  # A pid namespace too (its init is the inner sh): when the command ends or
  # unshare is killed (--kill-child, e.g. by a test timeout), every process
  # left inside, such as a daemon a failed test did not stop, dies with it
  # and cannot keep the network namespace and its BPF links alive.
  exec unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc -- \
    sh -c 'AGILITY_NETNS_RUN_INNER=$$ exec sh "$0" "$@"' "$script" "$@" ||
    die "unshare failed"
fi
unset AGILITY_NETNS_RUN_INNER

ip link set lo up || die "cannot bring lo up"
ip -6 route add local fd00:77::/44 dev lo || die "cannot add the local route for fd00:77::/44"

bpffs=$(mktemp -d "${TMPDIR:-/tmp}/agility-bpffs.XXXXXX") || die "mktemp failed"
cleanup() {
  umount "$bpffs" 2>/dev/null || true
  rmdir "$bpffs" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mount -t bpf bpf "$bpffs" || die "cannot mount bpffs on $bpffs"
export AGILITY_BPFFS="$bpffs"
export AGILITY_NETNS=1

# Not exec: the shell stays to unmount and remove the directory afterwards.
status=0
"$@" || status=$?
exit "$status"
