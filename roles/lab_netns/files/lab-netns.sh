#!/bin/sh
# Idempotent namespace plumbing for the cdclab lab. Prints CHANGED when it changed anything,
# so the Ansible task can report changed/ok truthfully.
#   lab-netns.sh bridge BRIDGE CIDR
#   lab-netns.sh host NAMESPACE VETH BRIDGE CIDR
#   lab-netns.sh egress NAMESPACE BRIDGE GATEWAY SUBNET SAVED
#     a way out of the lab for NAMESPACE: a default route via the bridge, forwarding on and
#     the lab's subnet masqueraded behind this machine (rules tagged cdclab-egress; the
#     ip_forward it replaced kept in SAVED for lab.down to restore)
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
egress)
  ns=$2 br=$3 gw=$4 subnet=$5 saved=$6
  ip -n "$ns" -4 route show default | grep -q "via $gw " || {
    ip -n "$ns" route replace default via "$gw"; mark; }
  [ -e "$saved" ] || cat /proc/sys/net/ipv4/ip_forward > "$saved"
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || {
    echo 1 > /proc/sys/net/ipv4/ip_forward; mark; }
  tag="-m comment --comment cdclab-egress"
  for rule in \
    "nat POSTROUTING -s $subnet ! -o $br $tag -j MASQUERADE" \
    "filter FORWARD -i $br ! -o $br $tag -j ACCEPT" \
    "filter FORWARD -o $br -m conntrack --ctstate ESTABLISHED,RELATED $tag -j ACCEPT"; do
    set -- $rule
    table=$1; shift
    iptables -w -t "$table" -C "$@" 2>/dev/null || { iptables -w -t "$table" -I "$@"; mark; }
  done
  ;;
*)
  echo "usage: $0 bridge BRIDGE CIDR | host NS VETH BRIDGE CIDR |" \
    "egress NS BRIDGE GATEWAY SUBNET SAVED" >&2; exit 64 ;;
esac
[ "$changed" = 1 ] && echo CHANGED || echo OK
