"""PowerDNS Recursor 4.8: `dns64-prefix=`, `forward-zones=` (RD=0, like a stub zone).

Its native DNS64 copies the IPv4 address into the last 32 bits of the prefix: /96 only.
It has no AAAA exclusion of its own: with `exclude`, a `postresolve` Lua hook drops the
excluded AAAA records and, when none is left, asks the recursor to synthesize.
`ipv4only.arpa` is an `auth-zones` zone, which the native DNS64 synthesizes from. No root hints
(`hint-file=no`), no security polling, no DNSSEC processing,
and `dont-query` emptied (its default lists 2001:db8::/32 and the private ranges labs use).
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

EXCLUDE_SCRIPT = "dns64-exclude.lua"
USER = "pdns"  # the Debian package's own user
RUN = "run"

# RFC 6147 §5.1.4 on top of the native DNS64, which runs before postresolve and sees the
# excluded AAAA records as real ones: drop them, and when no AAAA is left, have the
# recursor synthesize for the name that owned them (its own getFakeAAAARecords, the
# function the native DNS64 calls), CNAMEs before it kept.
EXCLUDE_LUA = """\
local prefix = {prefix}
local exclude = newNMG()
{masks}
function postresolve(dq)
  if dq.qtype ~= pdns.AAAA or dq.rcode ~= pdns.NOERROR then return false end
  local kept, owner, left = {{}}, nil, false
  for _, r in ipairs(dq:getRecords()) do
    if r.type == pdns.AAAA and r.place == pdns.place.ANSWER and exclude:match(r:getCA()) then
      owner = r.name
    else
      if r.type == pdns.AAAA and r.place == pdns.place.ANSWER then left = true end
      table.insert(kept, r)
    end
  end
  if owner == nil then return false end
  dq:setRecords(kept)
  if not left then
    dq.followupFunction = 'getFakeAAAARecords'
    dq.followupPrefix = prefix
    dq.followupName = owner
  end
  return true
end
"""


def exclude_script(ctx: NodeContext[Dns64Spec]) -> str:
    masks = "\n".join(f"exclude:addMask({escape.lua_str(str(n))})" for n in ctx.spec.exclude)
    return EXCLUDE_LUA.format(prefix=escape.lua_str(str(dns64_prefix(ctx).network_address)), masks=masks)


@register
class PdnsRecursor(Implementation):
    name = "pdns-recursor"
    service = "pdns-recursor"
    packages = ("pdns-recursor",)
    binaries = ("pdns_recursor",)
    prefix_lengths = frozenset({96})
    excludes = True  # by a postresolve Lua hook: the native DNS64 has no exclusion

    def render(self, ctx: NodeContext[Dns64Spec]) -> dict[str, str]:
        files = base_files(ctx)
        d = ctx.dir
        conf = [
            f"local-address={', '.join(listen_addresses(ctx))}",
            "local-port=53",
            "allow-from=0.0.0.0/0, ::/0",
            "daemon=no",
            "disable-syslog=yes",
            "log-timestamp=no",
            f"socket-dir={d}/{RUN}",  # owned by the user it runs as (its control socket)
            f"setuid={USER}",
            f"setgid={USER}",
            "security-poll-suffix=",  # no version polling: the lab has no way out
            "hint-file=no",  # no root hints, no priming
            "dnssec=off",
            "dont-query=",
            "serve-rfc1918=no",  # lab zones may be RFC 1918 reverse zones
            "statistics-interval=0",
            f"auth-zones={IPV4ONLY}={d}/{IPV4ONLY}.zone",
        ]
        zones = sorted(stub_zones(ctx).items())
        if zones:
            conf.append("forward-zones=" + ", ".join(
                f"{escape.conf_word(z)}={';'.join(map(escape.conf_word, a))}" for z, a in zones))
        fwd = uplink_forwarders(ctx)
        if fwd:
            # names outside the lab: slirp4netns's DNS forwarder (a recursive one: RD=1)
            conf.append(f"forward-zones-recurse=.={';'.join(fwd)}")
        if ctx.spec.synthesize:
            conf.append(f"dns64-prefix={dns64_prefix(ctx)}")
        if ctx.spec.exclude:
            conf.append(f"lua-dns-script={d}/{EXCLUDE_SCRIPT}")
            files[EXCLUDE_SCRIPT] = exclude_script(ctx)
        files["recursor.conf"] = "\n".join(conf) + "\n"
        files[f"{IPV4ONLY}.zone"] = ipv4only_zone_file()
        return files

    def setup(self, ctx: NodeContext[Dns64Spec]) -> list[list[str]]:
        return [run_dir(f"{ctx.dir}/{RUN}", USER), ["pdns_recursor", f"--config-dir={ctx.dir}", "--config=check"]]

    def services(self, ctx: NodeContext[Dns64Spec]) -> list[Service]:
        return [Service(self.service, ["pdns_recursor", f"--config-dir={ctx.dir}"])]
