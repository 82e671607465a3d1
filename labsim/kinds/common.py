"""Files every node gets: its own resolv.conf, hosts and nsswitch.conf, and trust in the lab CA.

`ip netns exec` bind-mounts `/etc/netns/<ns>/*` over `/etc`, so these are what libc in the
node reads. nsswitch is pinned to `files dns` so that a host's mdns/myhostname modules never
change what a lab measures.
"""

from __future__ import annotations

import os
import pwd
from ipaddress import ip_address

from labsim.kinds import escape
from labsim.kinds.base import NodeContext, TlsRequest
from labsim.model.plan import PlanError
from labsim.node.privdrop import GROUP, USER, confine_argv
from labsim.trust import ALLOW_ROOT_ENV, ALLOW_ROOT_FLAG, root_allowed  # noqa: F401 - ALLOW_ROOT_ENV for tests

# `user: root` in a file runs what it names as root on the host: the command line must say so

NSSWITCH = """\
# labsim: name resolution in this node is files, then DNS through resolv.conf
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
"""


def default_nameservers(ctx: NodeContext) -> list[str]:
    """With no resolver given: the lab's DNS64 resolvers, else its authoritative servers,
    keeping only those that share an address family with this node."""
    nodes = ctx.plan.topology.nodes
    mine = {a.version for a in ctx.node.addresses()}
    for kind in ("dns64", "authdns"):
        found = [n for n, spec in nodes.items() if spec.kind == kind and n != ctx.name
                 and mine & {a.version for a in ctx.plan.nodes[n].addresses()}]
        if found:
            return found
    return []


def nameserver_addresses(ctx: NodeContext) -> list[str]:
    """resolv.conf nameserver lines in order; node names become the address the node can
    use (IPv6 first when both sides have it). Raises PlanError for a bad reference."""
    spec = ctx.spec.resolver
    names = spec.nameservers if spec and spec.nameservers else default_nameservers(ctx)
    out = []
    for i, ref in enumerate(names):
        loc = ("nodes", ctx.name, "resolver", "nameservers", i)
        try:
            out.append(str(ip_address(ref)))
            continue
        except ValueError:
            pass
        if ref not in ctx.plan.nodes:
            raise PlanError(loc, f"{ref!r} is neither a node nor an IP address")
        other = ctx.plan.nodes[ref]
        addr = next((a for fam in (6, 4) if ctx.node.addresses(fam) for a in other.addresses(fam)),
                    None)
        if addr is None:
            raise PlanError(loc, f"node {ref!r} has no address in a family {ctx.name!r} has")
        out.append(str(addr))
    return out


def resolv_conf(ctx: NodeContext) -> str:
    lines = ["# labsim: resolver of node " + ctx.name]
    spec = ctx.spec.resolver
    if spec and spec.search:
        lines.append("search " + " ".join(map(escape.resolv_word, spec.search)))
    lines += [f"nameserver {escape.resolv_word(a)}" for a in nameserver_addresses(ctx)]
    if spec and spec.options:
        lines.append("options " + " ".join(map(escape.resolv_word, spec.options)))
    return "\n".join(lines) + "\n"


def hosts(ctx: NodeContext) -> str:
    own = f"127.0.1.1\t{escape.hosts_word(ctx.hostname)}\n" if ctx.hostname and ctx.hostname != ctx.name else ""
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + own
            + "".join(f"{a}\t{ctx.name}\n" for a in ctx.node.addresses()))


def base_files(ctx: NodeContext) -> dict[str, str]:
    return {"/etc/resolv.conf": resolv_conf(ctx), "/etc/hosts": hosts(ctx),
            "/etc/nsswitch.conf": NSSWITCH}


def https_certificate(ctx: NodeContext) -> TlsRequest | None:
    """A lab-CA certificate for a node serving HTTPS: its `tls_names` if given (to reproduce
    a certificate that does not name the public host), else its names, node name and
    addresses."""
    if not ctx.spec.https_port:
        return None
    names = ctx.spec.tls_names
    if names is None:
        names = [*ctx.spec.names, ctx.name, *map(str, ctx.node.addresses())]
    return TlsRequest(names)


def is_root_name(name: str, group: bool = False) -> bool:
    """`root`, or a name the host maps to id 0 (a `toor` alias)."""
    if name == "root":
        return True
    try:
        import grp

        return (grp.getgrnam(name).gr_gid if group else pwd.getpwnam(name).pw_uid) == 0
    except KeyError:
        return False


def refuse_root(name: str | None, group: bool = False) -> str | None:
    """A schema validator's check of a `user`/`group`: root only with the command line's
    --allow-root-nodes (ValueError otherwise, reported at the field's file:line)."""
    if name is not None and is_root_name(name, group) and not root_allowed():
        raise ValueError(f"{name!r} runs this command as root, able to change the host's own files: "
                         f"allowed only when the command line says {ALLOW_ROOT_FLAG}")
    return name


def confined(confinement: str, python: str, argv: list[str], user: str | None,
             group: str | None = None, node_dir: str | None = None, drops_itself: bool = False) -> list[str]:
    """`argv` as run for a file: root only if it asked for root (`user: root`, allowed by
    the command line); otherwise as `user` (None: nobody/nogroup; `drops_itself`: the argv
    becomes the user itself, setpriv), with `confinement` "mount-ns" also inside a mount
    namespace where the host is read-only (runtime.records.confinement); "" (test fakes
    running on the host as the current user) runs it as is."""
    if not confinement or (user is not None and is_root_name(user)):
        return argv
    # nodes that share the host's file system get a mount namespace of their own; a container
    # has its own already (and no CAP_SYS_ADMIN to make one): only the user drops
    mount_ns = confinement == "mount-ns"
    drop: tuple[str | None, str | None] = (None, None) if drops_itself else (user, group) if user else (USER, GROUP)
    if not mount_ns and drop[0] is None:
        return argv
    # labsim's interpreter (an exec check's `{python}`) stays usable by the user: its prefix
    # (bin/, lib/) is exposed should it lie under a closed directory (a pyenv under /root), and
    # so is its virtual environment (site-packages: boto3 for the cloud scenario) should it lie
    # under a directory the mount namespace makes private (a checkout under /tmp)
    expose: tuple[str, ...] = ()
    if os.path.isabs(python):
        real = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
        expose = tuple(p for p in dict.fromkeys((real, venv)) if p != "/")
    return confine_argv(python, argv, mount_ns=mount_ns, user=drop[0], group=drop[1],
                        node_dir=node_dir if mount_ns else None, expose=expose if mount_ns else ())
