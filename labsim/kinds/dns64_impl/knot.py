"""Knot Resolver 5.6 (`kresd`): `modules.load('dns64')` in front of a second kresd.

What 5.6 imposes, and how this config gets around it:

- the dns64 module synthesizes with `policy.FORWARD`, not with `policy.STUB` (measured: an
  uncached AAAA query under STUB ran 16 s and came back empty);
- FORWARD and STUB targets hold for the whole request, CNAME targets included ("the policy
  module only looks at whole DNS requests"): a per-zone FORWARD sends a CNAME into another
  lab zone to the first zone's server, which refuses it;
- the hints module takes every name under `.arpa` for a reverse name, and data answered by
  a policy rule never reaches the dns64 module: neither serves `ipv4only.arpa`;
- one kresd forwarding to itself (a second listener with its own rules) stalls: measured,
  the first forward of each name timed out (3 s lookups, SERVFAILs), most likely because
  kresd joins its inner query to the outstanding forward of the same name.

So the node runs two: the front (`kresd`, on the node's addresses) FORWARDs everything to
the back (`kresd-stub`, on the loopback address `SELF` only), and does DNS64 and CNAME
following one hop at a time. The back has no DNS64 and picks per name: a lab zone's
servers (STUB: the answer as the server gives it, no CNAME chasing), `ipv4only.arpa` from
local data, the uplink's DNS forwarder, or SERVFAIL at once (kresd counts an unreachable
root server as a timeout, so an unrouted lookup would take seconds where the others fail
at once).

5.6's dns64 takes a /96 prefix only (it copies 12 bytes of it) and excludes `::ffff/96`
by default, so an empty `exclude` is rendered as an empty table. Its exclusion is lazy:
one excluded AAAA makes the whole AAAA RRset count as absent. kresd has no config-check
mode; a broken config exits at start, and readiness reports it at once with that kresd's
log (each has a probe of its own). The
modules that reach out at start (priming, RFC 5011 trust anchor updates, time skew/jump
detection, TA signalling) are unloaded and the root trust anchor removed: the lab's zones
are unsigned and there is no way out.
"""

from __future__ import annotations

from labsim.kinds import escape
from labsim.kinds.base import CommandProbe, NodeContext, Probe, Service, run_dir
from labsim.kinds.common import base_files
from labsim.kinds.dns64_impl.common import (
    IPV4ONLY,
    IPV4ONLY_ADDRS,
    IPV4ONLY_TTL,
    Implementation,
    dns64_prefix,
    listen_addresses,
    register,
    stub_zones,
    uplink_forwarders,
)
from labsim.kinds.dns64_impl.spec import Schema as Dns64Spec

SELF = "127.0.0.170"  # the back's address: a loopback address of the node's own
BACK = "stub"  # the back's run directory, inside the node's
BACK_SERVICE = "kresd-stub"
USER = "knot-resolver"  # the Debian package's own user
RUN = "run"  # each kresd's run directory (cache, control socket), owned by USER
# kresd's advice: bind first, then drop root, then open the cache (so the user owns it)
DROP_ROOT = f"user({escape.lua_str(USER)}, {escape.lua_str(USER)})"

UNLOAD = ("priming", "ta_update", "ta_signal_query", "ta_sentinel", "detect_time_skew",
          "detect_time_jump", "watchdog")

SERVFAIL = """\
local function servfail(_, req)
  local answer = req:ensure_answer()
  if answer == nil then return nil end
  answer:rcode(kres.rcode.SERVFAIL)
  return kres.DONE
end"""


def _common() -> list[str]:
    return ["log_target('stderr')", "log_level('notice')",
            *(f"modules.unload('{m}')" for m in UNLOAD), "trust_anchors.remove('.')"]


def _lua_list(items) -> str:
    return "{" + ", ".join(escape.lua_str(str(i)) for i in items) + "}"


def _labels(zone: str) -> int:
    return len(zone.rstrip(".").split("."))


@register
class Knot(Implementation):
    name = "knot"
    service = "kresd"
    packages = ("knot-resolver", "dnsutils")
    binaries = ("kresd", "dig")  # dig: the back's readiness probe
    prefix_lengths = frozenset({96})
    excludes = True

    def render(self, ctx: NodeContext[Dns64Spec]) -> dict[str, str]:
        files = base_files(ctx)
        front = [
            f"-- labsim: Knot Resolver of node {ctx.name}, the front (DNS64)",
            *_common(),
            f"net.listen({_lua_list(listen_addresses(ctx))}, 53, {{ kind = 'dns' }})",
            DROP_ROOT,
            "cache.size = 10 * MB",  # lmdb in the run directory
        ]
        if ctx.spec.synthesize:
            prefix = dns64_prefix(ctx)
            front += ["modules.load('dns64')",
                      f"dns64.config({{ prefix = {escape.lua_str(str(prefix.network_address))}, "
                      f"exclude_subnets = {_lua_list(ctx.spec.exclude)} }})"]
        front.append(f"policy.add(policy.all(policy.FORWARD({{'{SELF}'}})))")
        back = [
            f"-- labsim: Knot Resolver of node {ctx.name}, the back (per-name targets, no DNS64)",
            *_common(),
            f"net.listen('{SELF}', 53, {{ kind = 'dns' }})",
            DROP_ROOT,
            "cache.size = 1 * MB",  # lmdb in its own run directory
        ]
        rdata = ", ".join(f"kres.str2ip('{a}')" for a in IPV4ONLY_ADDRS)
        back.append(f"policy.add(policy.suffix(policy.ANSWER({{ [kres.type.A] = {{ rdata = {{ {rdata} }}, "
                    f"ttl = {IPV4ONLY_TTL} }} }}, true), policy.todnames({{'{IPV4ONLY}.'}})))")
        # the most specific zone first: a lab zone inside another one has its own servers
        zones = sorted(stub_zones(ctx).items(), key=lambda z: (-_labels(z[0]), z[0]))
        back += [f"policy.add(policy.suffix(policy.STUB({_lua_list(addrs)}), "
                 f"policy.todnames({_lua_list([zone + '.'])})))"
                 for zone, addrs in zones]
        fwd = uplink_forwarders(ctx)
        if fwd:
            # names outside the lab: slirp4netns's DNS forwarder (a recursive resolver)
            back.append(f"policy.add(policy.all(policy.STUB({_lua_list(fwd)})))")
        else:
            back += [SERVFAIL, "policy.add(policy.all(servfail))"]
        files["kresd.conf"] = "\n".join(front) + "\n"
        files[f"{BACK}/kresd.conf"] = "\n".join(back) + "\n"
        return files

    def services(self, ctx: NodeContext[Dns64Spec]) -> list[Service]:
        # -n: no REPL on stdin; a run directory (cache, control socket) each. The front
        # first: the node's DNS probe belongs to the first service, and the back has its own.
        d = ctx.dir
        return [Service(self.service, ["kresd", "-n", "-c", f"{d}/kresd.conf", f"{d}/{RUN}"]),
                Service(BACK_SERVICE, ["kresd", "-n", "-c", f"{d}/{BACK}/kresd.conf", f"{d}/{BACK}/{RUN}"])]

    def setup(self, ctx: NodeContext[Dns64Spec]) -> list[list[str]]:
        return [run_dir(f"{ctx.dir}/{RUN}", USER), run_dir(f"{ctx.dir}/{BACK}/{RUN}", USER)]

    def probes(self, ctx: NodeContext[Dns64Spec]) -> list[Probe]:
        # through the front (and so the back); and the back itself, so that either one
        # exiting at start fails readiness at once with its own log
        back = CommandProbe(["dig", "+time=1", "+tries=1", f"@{SELF}", f"{IPV4ONLY}.", "A"],
                            service=BACK_SERVICE)
        return [*super().probes(ctx), back]
