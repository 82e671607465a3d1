"""What a self-configuring node reported (its learnt.json), read for `labsim status`: by the
full CLI and by its standard-library fast path alike (hostconf itself costs ~35 ms to import)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any


def learnt_of(lab_dir: str, nodes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What each self-configuring node of a lab reports (for `labsim status`)."""
    out = {}
    for node in nodes:
        try:
            with open(os.path.join(lab_dir, "nodes", node, "learnt.json")) as f:
                out[node] = json.load(f)
        except (OSError, ValueError):
            continue
    return out


def summary(learnt: dict[str, Any]) -> str:
    """One line: addresses, resolvers, NAT64 prefix and source, CLAT, DHCPv4."""
    parts = [" ".join(a["address"] for a in learnt.get("addresses", []))]
    if learnt.get("resolvers"):
        parts.append("dns " + " ".join(learnt["resolvers"]))
    parts.append(f"nat64 {learnt.get('nat64_prefix')} ({learnt.get('nat64_prefix_source')})"
                 if learnt.get("nat64_prefix") else "no NAT64 prefix")
    if learnt.get("clat"):
        parts.append(f"clat {learnt['clat']['state']}")
    if learnt.get("dhcp4"):
        d = learnt["dhcp4"]
        parts.append(f"dhcp4 {d['state']}" + (f" {d['address']}" if d.get("address") else ""))
    return ", ".join(p for p in parts if p)
