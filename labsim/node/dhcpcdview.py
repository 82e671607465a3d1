"""What a `stack: dhcpcd` client runs beside dhcpcd (`python -m labsim.node.dhcpcdview CONFIG`):
it writes `learnt.json` in the schema labsim.node.hostconf writes, from what dhcpcd did, so
`labsim status` and the `learnt` check read a dhcpcd node as they read a hostconf one:

- the hook's JSON lines (labsim/node/dhcpcd_hook.py): the DHCPv4 lease, the RA's RDNSS/DNSSL
  with their lifetimes;
- dhcpcd's log: RFC 8925 option 108 ("IPv6-Only Preferred received (N seconds)"), which
  runs no hook;
- the kernel (`ip -j addr`, `ip -j route`) and the node's resolv.conf: what the node uses.

dhcpcd 9.4.1 knows no PREF64 and runs no CLAT: `pref64`, `nat64_prefix` and `clat` stay
null. Also the pure renderers of dhcpcd's configuration and start script. Standard library
only; every wait is bounded, the loop wakes every 0.5 s.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TICK_S = 0.5
HOOK_SRC = Path(__file__).with_name("dhcpcd_hook.py")
# reasons after which dhcpcd holds a DHCPv4 lease / holds none (dhcpcd-run-hooks(8))
BOUND = {"BOUND", "RENEW", "REBIND", "REBOOT", "STATIC", "INFORM"}
UNBOUND = {"EXPIRE", "NAK", "RELEASE", "STOP", "STOPPED", "DEPARTED", "NOCARRIER", "FAIL"}
V6ONLY_LOG = re.compile(r"(\S+): IPv6-Only Preferred received \((\d+) seconds\)")


# -- rendering (pure; labsim.kinds.client calls these) -------------------------------------------
def conf(dir: str, dhcp4: bool, ipv6_only_preferred: bool, ra: bool, resolver: bool) -> str:
    """dhcpcd.conf for one node; `-f` makes dhcpcd read only this, not the host's."""
    lines = ["# labsim: dhcpcd 9.4.1 as this node's network configuration (client `stack: dhcpcd`)",
             "nodev  # no udev module: the host's udev does not see the node's links",
             "noipv4ll  # no 169.254/16 fallback (hostconf has none either)",
             "timeout 0  # wait for a lease for ever: one interface would exit on timeout",
             "reboot 0",
             "nohook hostname, ntp-common.conf, chrony.conf, timesyncd.conf, openntpd.conf, wpa_supplicant",
             # 20-resolv.conf writes /etc/resolv.conf itself (in place) without resolvconf
             "env resolvconf=/nonexistent"]
    if not resolver:
        lines.append("nohook resolv.conf  # the node's resolv.conf stays as planned")
    if dhcp4:
        lines += ["option domain_name_servers, domain_name, domain_search, routers, subnet_mask",
                  "require dhcp_server_identifier"]
        if ipv6_only_preferred:
            lines.append("option ipv6_only_preferred  # RFC 8925: ask for option 108 and honour it")
    else:
        lines.append("noipv4")
    if ra:
        # EUI-64 as the kernel forms it (Debian's default is RFC 7217 `slaac private`)
        lines.append("slaac hwaddr")
    else:
        lines += ["noipv6rs", "noipv6"]
    lines.append("nodhcp6  # labsim runs no DHCPv6 server")
    return "\n".join(lines) + "\n"


def hook(events_path: str) -> str:
    """The hook script, with its events file set and a shebang (`python3 -S`: no site)."""
    text = HOOK_SRC.read_text()
    marked = 'EVENTS = "dhcpcd-events.jsonl"'
    if marked not in text:
        raise ValueError(f"{HOOK_SRC}: no {marked!r} line to set")
    return "#!/usr/bin/python3 -S\n" + text.replace(marked, f"EVENTS = {json.dumps(events_path)}", 1)


def start_script(dir: str, ifaces: list[str], own_mounts: bool) -> str:
    """sh script: with `own_mounts` (the netns runtime: nodes share the host's /run and
    /var/lib), the node's own directories over dhcpcd's state directories, in the mount
    namespace `ip netns exec` gave it, so nodes (all with an eth0) never share a pid file,
    socket or lease; then dhcpcd in the foreground, on the node's links only."""
    d = shlex.quote(dir)
    lines = ["#!/bin/sh", "set -e", f"chmod 0755 {d}/dhcpcd-hook", f": > {d}/dhcpcd-events.jsonl"]
    if own_mounts:
        lines += [f"mkdir -p {d}/dhcpcd/run {d}/dhcpcd/lib /run/dhcpcd",
                  f"mount --bind {d}/dhcpcd/run /run/dhcpcd",
                  f"mount --bind {d}/dhcpcd/lib /var/lib/dhcpcd"]
    lines.append(f"exec dhcpcd -f {d}/dhcpcd.conf -B -d -j {d}/dhcpcd.log --script {d}/dhcpcd-hook "
                 + " ".join(shlex.quote(i) for i in ifaces))
    return "\n".join(lines) + "\n"


# -- reading ---------------------------------------------------------------------------------------
def read_events(path: str) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line being written
    except OSError:
        pass
    return out


def dhcp4_state(events: list[dict[str, Any]], log: str, v6only_asked: bool) -> dict[str, Any]:
    """hostconf's `dhcp4` facts from dhcpcd's DHCP events and its log (108 runs no hook)."""
    facts: dict[str, Any] = {"ipv6_only_preferred": v6only_asked, "state": "init"}
    for ev in events:
        env = ev.get("env", {})
        if env.get("protocol", "dhcp") != "dhcp" or ev.get("reason") in ("ROUTERADVERT", "PREINIT", "CARRIER"):
            continue
        if ev.get("reason") in BOUND and env.get("new_ip_address"):
            routers = env.get("new_routers", "").split()
            facts = {"ipv6_only_preferred": v6only_asked, "state": "bound", "address": env["new_ip_address"],
                     "prefixlen": int(env.get("new_subnet_cidr") or 32),
                     "router": routers[0] if routers else None,
                     "lease": int(env["new_dhcp_lease_time"]) if env.get("new_dhcp_lease_time") else None,
                     "server": env.get("new_dhcp_server_identifier"),
                     "dns": env.get("new_domain_name_servers", "").split()}
        elif ev.get("reason") in UNBOUND:
            facts = {"ipv6_only_preferred": v6only_asked, "state": "init", "last": ev.get("reason")}
    waits = V6ONLY_LOG.findall(log)
    if waits and facts["state"] != "bound":
        facts.update(state="v6only", v6only_wait=int(waits[-1][1]))
    return facts


def ra_options(events: list[dict[str, Any]], now: float) -> tuple[list[str], list[str]]:
    """RDNSS servers and DNSSL domains of the newest RA event (every router's RA is in it:
    none left, none known), each while its lifetime lasts:
    dhcpcd keeps one RA per router and replaces it whole on the next (what 20-resolv.conf
    reads); `ndN_now - ndN_acquired` is the age at the event, then the wall clock runs on."""
    last = next((ev for ev in reversed(events) if ev.get("reason") == "ROUTERADVERT"
                 or ev.get("env", {}).get("protocol") == "ra"), None)
    if last is None:
        return [], []
    env, servers, domains = last["env"], [], []
    for i in range(1, 17):
        if f"nd{i}_acquired" not in env:
            break
        age = int(env.get(f"nd{i}_now", 0)) - int(env[f"nd{i}_acquired"]) + (now - float(last["t"]))
        for j in range(1, 17):
            rd, ds = f"nd{i}_rdnss{j}_", f"nd{i}_dnssl{j}_"
            if rd + "lifetime" not in env and ds + "lifetime" not in env:
                break
            if int(env.get(rd + "lifetime", 0)) - age > 0:
                servers += [s for s in env.get(rd + "servers", "").split() if s not in servers]
            if int(env.get(ds + "lifetime", 0)) - age > 0:
                domains += [d for d in env.get(ds + "search", "").split() if d not in domains]
    return servers, domains


def parse_resolv_conf(text: str) -> tuple[list[str], list[str]]:
    """(nameservers, search domains) as glibc reads them: the last search/domain line wins."""
    servers, search = [], []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append(words[1])
        elif words and words[0] in ("search", "domain"):
            search = words[1:]
    return servers, search


def global_addresses(ip_json: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """hostconf's `addresses` from `ip -j -6 addr show scope global`."""
    return [{"dev": i["ifname"], "address": a["local"], "prefixlen": a["prefixlen"],
             "slaac": bool(a.get("dynamic")) or "mngtmpaddr" in a,
             "valid_lifetime": a.get("valid_life_time"), "preferred_lifetime": a.get("preferred_life_time")}
            for i in ip_json for a in i.get("addr_info", []) if a.get("family") == "inet6"]


def _ip_json(*argv: str) -> list[dict[str, Any]]:
    try:
        res = subprocess.run(["ip", "-j", *argv], capture_output=True, timeout=10)
        data = json.loads(res.stdout or b"[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    return [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def learnt(cfg: dict[str, Any], now: float, started: float, timeline: dict[str, float]) -> dict[str, Any]:
    d = cfg["dir"]
    events = read_events(os.path.join(d, "dhcpcd-events.jsonl"))
    resolvers, search = ra_options(events, now)
    servers, file_search = parse_resolv_conf(_read(cfg.get("resolv_conf", "/etc/resolv.conf")))
    addresses = global_addresses(_ip_json("-6", "addr", "show", "scope", "global"))
    dhcp4 = dhcp4_state(events, _read(os.path.join(d, "dhcpcd.log")), cfg["ipv6_only_preferred"]) \
        if cfg.get("dhcp4") else None
    routes = [r for r in _ip_json("-6", "route", "show", "default") if r.get("dst") == "default"]
    data: dict[str, Any] = {
        "stack": "dhcpcd", "addresses": addresses, "resolvers": resolvers, "search": search,
        "resolv_conf": {"nameservers": servers, "search": file_search},
        "default_routers": [{"gateway": r.get("gateway"), "dev": r.get("dev"), "expires": r.get("expires"),
                             "protocol": r.get("protocol")} for r in routes],
        "pref64": None, "pref64_withdrawn": None, "rfc7050": [], "nat64_prefix": None,
        "nat64_prefix_source": None, "clat": None, "dhcp4": dhcp4, "events": len(events)}
    elapsed = round(time.monotonic() - started, 3)
    for key, have in (("slaac", any(a["slaac"] for a in addresses)), ("rdnss", bool(resolvers)),
                      ("dhcp4", bool(dhcp4 and dhcp4["state"] in ("bound", "v6only")))):
        if have:
            timeline.setdefault(key, elapsed)
    data["timeline_s"] = dict(timeline)
    data["ready"] = ((not cfg.get("slaac") or any(a["slaac"] for a in addresses))
                     and (not cfg.get("resolver_from_ra") or bool(resolvers or servers))
                     and (dhcp4 is None or dhcp4["state"] in ("bound", "v6only")))
    return data


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        cfg = json.load(f)
    started, last = time.monotonic(), ""
    timeline: dict[str, float] = {}
    out = os.path.join(cfg["dir"], "learnt.json")
    try:
        while True:
            text = json.dumps(learnt(cfg, time.time(), started, timeline), indent=1, sort_keys=True)
            if text != last:
                last = text
                write_atomic(out, text + "\n")
            time.sleep(TICK_S)
    except KeyboardInterrupt:
        return 0


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(sys.argv[1:]))
