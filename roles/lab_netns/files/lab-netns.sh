#!/bin/sh
# Idempotent namespace plumbing for the cdclab lab. Prints CHANGED when it changed anything,
# so the Ansible task can report changed/ok truthfully.
#   lab-netns.sh bridge BRIDGE CIDR
#   lab-netns.sh host NAMESPACE VETH BRIDGE CIDR
set -eu
changed=0
mark() { changed=1; }

case "$1" in
bridge)
  br=$2 cidr=$3
  ip link show "$br" >/dev/null 2>&1 || { ip link add "$br" type bridge; mark; }
  ip -4 -o addr show dev "$br" | grep -q " $cidr " || { ip addr add "$cidr" dev "$br"; mark; }
  ip -o link show "$br" | grep -q ',UP' || { ip link set "$br" up; mark; }
  ;;
host)
  ns=$2 veth=$3 br=$4 cidr=$5
  [ -e "/run/netns/$ns" ] || { ip netns add "$ns"; mark; }
  ip link show "$veth" >/dev/null 2>&1 || {
    ip link add "$veth" type veth peer name eth0 netns "$ns"; mark; }
  ip -o link show "$veth" | grep -q "master $br" || { ip link set "$veth" master "$br"; mark; }
  ip -o link show "$veth" | grep -q ',UP' || { ip link set "$veth" up; mark; }
  ip -n "$ns" -o link show lo | grep -q ',UP' || { ip -n "$ns" link set lo up; mark; }
  ip -n "$ns" -4 -o addr show dev eth0 | grep -q " $cidr " || {
    ip -n "$ns" addr add "$cidr" dev eth0; mark; }
  ip -n "$ns" -o link show eth0 | grep -q ',UP' || { ip -n "$ns" link set eth0 up; mark; }
  ;;
*)
  echo "usage: $0 bridge BRIDGE CIDR | host NS VETH BRIDGE CIDR" >&2; exit 64 ;;
esac
[ "$changed" = 1 ] && echo CHANGED || echo OK
