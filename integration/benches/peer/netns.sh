#!/usr/bin/env bash
# Latency mode of the peer comparison (compare.py --latency-ms): a network namespace joined to the
# root namespace by a veth pair, optionally with `tc netem` delay on both ends. Traffic stays on
# this machine: the namespace's only peer is the root-side end of the veth.
#
#   netns.sh up NAME [HALF_DELAY_MS]   make namespace NAME, veth NAMEr (root) <-> NAMEn (in NAME),
#                                      ROOT_ADDR/30 and NS_ADDR/30; with HALF_DELAY_MS > 0 add
#                                      `netem delay HALF_DELAY_MS` to both ends (a round trip pays
#                                      it twice). A failure part way removes what was made.
#   netns.sh down NAME                 remove both (idempotent)
#   netns.sh netem                     exit 0 if this kernel has the netem qdisc (tries it on a
#                                      throw-away veth pair, then removes it)
#
# NAME: at most 14 characters. Addresses: BATON_PEER_ROOT_ADDR (default 10.222.22.1) and
# BATON_PEER_NS_ADDR (default 10.222.22.2), a /30 that exists only on this veth pair.
# Needs root, iproute2 (ip, tc).
set -Eeuo pipefail

root_addr="${BATON_PEER_ROOT_ADDR:-10.222.22.1}"
ns_addr="${BATON_PEER_NS_ADDR:-10.222.22.2}"

say() { printf 'netns.sh: %s\n' "$*" >&2; }

down() {
    local name="$1"
    ip link del "${name}r" 2>/dev/null || true # removes the peer end too
    if ip netns list | grep -qw "$name"; then
        ip netns del "$name"
    fi
}

up() {
    local name="$1" half="${2:-0}"
    if ((${#name} > 14)); then
        say "name '$name' is longer than 14 characters"
        exit 2
    fi
    if ip -4 addr show | grep -qw "inet $root_addr"; then
        say "$root_addr is already in use on this machine; set BATON_PEER_ROOT_ADDR/BATON_PEER_NS_ADDR"
        exit 2
    fi
    # Anything that fails from here on removes what was made so far.
    trap 'say "set-up failed; removing $name"; down "$name"' ERR
    ip netns add "$name"
    ip link add "${name}r" type veth peer name "${name}n" netns "$name"
    ip addr add "$root_addr/30" dev "${name}r"
    ip link set "${name}r" up
    ip -n "$name" addr add "$ns_addr/30" dev "${name}n"
    ip -n "$name" link set "${name}n" up
    ip -n "$name" link set lo up
    if [[ "$half" != 0 ]]; then
        tc qdisc add dev "${name}r" root netem delay "${half}ms"
        tc -n "$name" qdisc add dev "${name}n" root netem delay "${half}ms"
    fi
    trap - ERR
    say "namespace $name: $ns_addr <-> $root_addr (root side)$([[ "$half" != 0 ]] && echo ", netem ${half} ms each way")"
}

netem() {
    local name="bpnetem$$"
    ip link add "${name}a" type veth peer name "${name}b" || return 1
    local ok=0
    tc qdisc add dev "${name}a" root netem delay 1ms 2>/dev/null || ok=1
    ip link del "${name}a" 2>/dev/null || true
    return "$ok"
}

case "${1:-}" in
    up) up "${2:?name}" "${3:-0}" ;;
    down) down "${2:?name}" ;;
    netem) netem ;;
    *)
        say "usage: netns.sh up NAME [HALF_DELAY_MS] | down NAME | netem"
        exit 2
        ;;
esac
