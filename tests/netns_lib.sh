# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the tests that build simulated hosts (scripts/rcomm-simhosts).
# netns_ok: root, and network namespaces with a bridge, veth pairs and tc
# tbf can be made here. Prints why not (and returns 1), else nothing.
netns_ok() {
    [ "$(id -u)" -eq 0 ] || { echo "not root"; return 1; }
    nl_probe=rcnlprobe$$
    ip netns add "$nl_probe" 2>/dev/null || { echo "no ip netns"; return 1; }
    nl_have=0
    ip -n "$nl_probe" link add b0 type bridge 2>/dev/null &&
        ip -n "$nl_probe" link add v0 type veth peer name v1 2>/dev/null &&
        ip netns exec "$nl_probe" tc qdisc add dev v0 root tbf rate 1gbit burst 32kb \
            latency 50ms 2>/dev/null && nl_have=1
    ip netns del "$nl_probe"
    [ $nl_have -eq 1 ] || { echo "no bridge, veth or tbf"; return 1; }
}
