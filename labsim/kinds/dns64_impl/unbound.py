"""unbound 1.17: `module-config: "dns64 iterator"`, a stub zone per lab zone.

unbound answers `.test` (and other special-use TLDs) itself unless told `nodefault`.
`local-data` is answered before the modules run, so it never gets synthesized; an
`auth-zone` with `for-upstream: yes` is data the iterator finds, and dns64 sees it: that is
how `ipv4only.arpa` is served (with an uplink's forward zone for '.', a stub zone for it
makes the hole that lets the auth-zone answer). unbound cannot exclude AAAA records by
range (`dns64-ignore-aaaa` takes names, not address ranges), so `exclude` is refused.
"""

from __future__ import annotations

from labsim.kinds import escape
from labsim.kinds.base import NodeContext, Service
from labsim.kinds.common import base_files
from labsim.kinds.dns64_impl.common import (
    IPV4ONLY,
    Implementation,
    dns64_prefix,
    ipv4only_zone_file,
    register,
    stub_zones,
    uplink_forwarders,
)
from labsim.kinds.dns64_impl.spec import Schema as Dns64Spec

# Zones unbound answers itself by default (unbound.conf(5), local-zone, "default zones"):
# special-use names and the AS112/RFC 6303 reverse zones, documentation ranges included.
# A lab zone inside one of them needs `local-zone: "<it>." nodefault` to reach its stub.
UNBOUND_DEFAULT_ZONES = {
    "localhost", "test", "invalid", "onion", "home.arpa", "resolver.arpa", "service.arpa",
    "127.in-addr.arpa", "0.in-addr.arpa", "254.169.in-addr.arpa", "2.0.192.in-addr.arpa",
    "100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
    "10.in-addr.arpa", "168.192.in-addr.arpa",
    *(f"{n}.172.in-addr.arpa" for n in range(16, 32)),
    *(f"{n}.100.in-addr.arpa" for n in range(64, 128)),
    "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
    "8.b.d.0.1.0.0.2.ip6.arpa",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
}


def default_zones_covering(zone: str) -> list[str]:
    """The default local zones that contain `zone` (itself included), shortest first."""
    labels = zone.rstrip(".").lower().split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels) - 1, -1, -1)]
    return [z for z in suffixes if z in UNBOUND_DEFAULT_ZONES]


USER = "unbound"  # the Debian package's own user


@register
class Unbound(Implementation):
    name = "unbound"
    service = "unbound"
    packages = ("unbound",)
    binaries = ("unbound",)

    def render(self, ctx: NodeContext[Dns64Spec]) -> dict[str, str]:
        files = base_files(ctx)
        server = [
            "server:",
            "  verbosity: 1",
            "  use-syslog: no",
            '  logfile: ""',
            '  chroot: ""',
            # drops root once its sockets are bound; it writes nothing (no pidfile, stderr log)
            f'  username: "{USER}"',
            f'  directory: "{ctx.dir}"',
            '  pidfile: ""',
            "  port: 53",
            "  interface: 127.0.0.1",
            "  interface: ::1",
        ]
        server += [f"  interface: {a}" for a in ctx.node.addresses()]
        server += [
            "  access-control: 0.0.0.0/0 allow",
            "  access-control: ::/0 allow",
            *(['  module-config: "dns64 iterator"', f"  dns64-prefix: {dns64_prefix(ctx)}"]
              if ctx.spec.synthesize else ['  module-config: "iterator"']),
            "  do-not-query-localhost: no",
            "  qname-minimisation: no",
            "  prefetch: no",
            # unbound shuffles its outgoing port set at every start with one arc4random per
            # port, and Debian 12's glibc (2.36) makes each a getrandom(2) call: ~71,000
            # calls, 55-66 ms to the first answer here, far more under a docker bring-up's
            # load. 1024 ports, still random, from the dynamic range (RFC 6335): 15-28 ms.
            # A lab resolver never has 1024 queries outstanding (docs/facts.md)
            "  outgoing-port-avoid: 0-65535",
            "  outgoing-port-permit: 49152-50175",
        ]
        zones = stub_zones(ctx)
        local = sorted({d for z in zones for d in default_zones_covering(z)})
        server += [f"  local-zone: {escape.unbound_str(d + '.')} nodefault" for d in local]
        server += ["remote-control:", "  control-enable: no"]
        for zone, addrs in sorted(zones.items()):
            server += ["stub-zone:", f"  name: {escape.unbound_str(zone + '.')}"]
            server += [f"  stub-addr: {escape.unbound_word(a)}" for a in addrs]
        fwd = uplink_forwarders(ctx)
        if fwd:
            # names outside the lab: slirp4netns's DNS forwarder, reached over the uplink.
            # A forward zone outranks an auth-zone for upstream: a stub zone for the RFC 7050
            # name makes a hole in it, and the auth-zone below answers before the stub's
            # address would ever be asked.
            server += ["forward-zone:", '  name: "."'] + [f"  forward-addr: {a}" for a in fwd]
            server += ["stub-zone:", f'  name: "{IPV4ONLY}."', "  stub-addr: 127.0.0.1"]
        # RFC 7050's name, served to the iterator (not to clients directly), so dns64 applies
        server += ["auth-zone:", f'  name: "{IPV4ONLY}."', f'  zonefile: "{ctx.dir}/{IPV4ONLY}.zone"',
                   "  for-downstream: no", "  for-upstream: yes", "  fallback-enabled: no"]
        files["unbound.conf"] = "\n".join(server) + "\n"
        files[f"{IPV4ONLY}.zone"] = ipv4only_zone_file()
        return files

    # no unbound-checkconf first: `unbound -d` reports the same file:line errors itself and
    # exits, and readiness fails at once with that log (it cost ~0.1 s of a docker bring-up)

    def services(self, ctx: NodeContext[Dns64Spec]) -> list[Service]:
        return [Service(self.service, ["unbound", "-d", "-c", f"{ctx.dir}/unbound.conf"])]
