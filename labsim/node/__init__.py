"""Programs that run INSIDE lab nodes: the check agent, hostconf (SLAAC/RDNSS/PREF64/DHCPv4 and
the CLAT), the PREF64 sender, the DHCPv4 client, the DNS delay relay, the echo backend, the
socket probe, the fork server (netns) and the launcher (docker).

Boundary: every module here imports only the standard library and `labsim.node` (enforced by
tests/unit/test_node_boundary.py). They start with `python -S` (no site-packages) in a node, so
anything else would fail there, or cost an interpreter's worth of imports per check.
"""
