"""BIND 9.18 (`named`): `dns64 PREFIX { clients { any; }; exclude { ... }; }`.

Lab zones are forward-only zones to their authoritative servers; `ipv4only.arpa` is a
primary zone of its own, and `dns64` (not `recursive-only`) applies to it too. named's
built-in `ipv4only.arpa` zone is switched off so the same zone file serves whether or not
the node synthesizes. BIND excludes `::ffff:0:0/96` unless told otherwise; with no
`exclude` in the topology that default is replaced by `none`, so all four implementations
agree on what an empty `exclude` means.
"""

from __future__ import annotations

from labsim.kinds import escape
from labsim.kinds.base import NodeContext, Service, run_dir
from labsim.kinds.common import base_files
from labsim.kinds.dns64_impl.common import (
    IPV4ONLY,
    Implementation,
    dns64_prefix,
    ipv4only_zone_file,
    listen_addresses,
    register,
    stub_zones,
    uplink_forwarders,
)
from labsim.kinds.dns64_impl.spec import Schema as Dns64Spec


def _list(items: list[str]) -> str:
    return "{ " + " ".join(f"{escape.bind_word(i)};" for i in items) + " }"


USER = "bind"  # the Debian package's own user
RUN = "run"


@register
class Bind9(Implementation):
    name = "bind9"
    service = "named"
    packages = ("bind9", "bind9-utils")
    binaries = ("named", "named-checkconf")
    excludes = True

    def render(self, ctx: NodeContext[Dns64Spec]) -> dict[str, str]:
        files = base_files(ctx)
        d = ctx.dir
        run = f"{d}/{RUN}"  # what named writes as `bind`: pid, session key, managed keys
        opts = [
            f'directory "{run}";',
            f'pid-file "{run}/named.pid";',
            f'session-keyfile "{run}/session.key";',
            f'managed-keys-directory "{run}";',
            f"listen-on port 53 {_list(listen_addresses(ctx, 4))};",
            f"listen-on-v6 port 53 {_list(listen_addresses(ctx, 6))};",
            "recursion yes;",
            "allow-query { any; };",
            "allow-recursion { any; };",
            "allow-query-cache { any; };",
            "dnssec-validation no;",  # no trust anchor work, no DS lookups for the lab's zones
            "empty-zones-enable no;",  # RFC 6303 zones would shadow lab reverse zones
            "ipv4only-enable no;",  # the zone below serves it, synthesizing or not
            # a query before ipv4only.arpa is loaded fails; its SERVFAIL is not cached for
            # the default second (readiness would wait it out)
            "servfail-ttl 0;",
            "notify no;",
            "querylog no;",
        ]
        fwd = uplink_forwarders(ctx)
        if fwd:
            # names outside the lab: slirp4netns's DNS forwarder, reached over the uplink
            opts += [f"forwarders {_list(fwd)};", "forward only;"]
        if ctx.spec.synthesize:
            exclude = [str(n) for n in ctx.spec.exclude] or ["none"]
            opts.append(f"dns64 {dns64_prefix(ctx)} {{ clients {{ any; }}; exclude {_list(exclude)}; }};")
        conf = ["options {"] + [f"  {o}" for o in opts] + ["};", "controls { };"]
        conf.append(f'zone "{IPV4ONLY}" {{ type primary; file "{d}/{IPV4ONLY}.zone"; }};')
        for zone, addrs in sorted(stub_zones(ctx).items()):
            conf.append(f"zone {escape.bind_str(zone)} {{ type forward; forward only; "
                        f"forwarders {_list(addrs)}; }};")
        files["named.conf"] = "\n".join(conf) + "\n"
        files[f"{IPV4ONLY}.zone"] = ipv4only_zone_file()
        return files

    def setup(self, ctx: NodeContext[Dns64Spec]) -> list[list[str]]:
        return [run_dir(f"{ctx.dir}/{RUN}", USER), ["named-checkconf", "-z", f"{ctx.dir}/named.conf"]]

    def services(self, ctx: NodeContext[Dns64Spec]) -> list[Service]:
        # -g: foreground, every log line to stderr; -u: root dropped once the sockets are bound
        return [Service(self.service, ["named", "-g", "-u", USER, "-c", f"{ctx.dir}/named.conf"])]
