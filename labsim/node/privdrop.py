"""Dropping root in labsim's own in-node servers (echo backend, DNS delay relay, PREF64
sender, moto), once they hold what needed it: their sockets bound (ports below 1024, raw
ICMPv6), their keys and configuration read; and tayga's argv, which drops with its own
options.

Standard library only: these servers run on the docker node image's python3 too. The user
is `nobody`/`nogroup`, which exist on the host (netns runtime) and in the node image alike
(base-passwd gives both uid/gid 65534); the image cannot grow a dedicated user without a
rebuild. `nobody` owns no file, so a server that writes anything writes through a file
descriptor it opened as root.

Everything the server imports later must then be readable by `nobody`: the servers import
what they use before the drop, and the standard library lives in /usr/lib.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd

USER, GROUP = "nobody", "nogroup"


def user_args(ap: argparse.ArgumentParser) -> None:
    """`--user`/`--group`: drop root to them once set up (kinds pass USER and GROUP)."""
    ap.add_argument("--user", help="drop root to this user once the sockets are bound")
    ap.add_argument("--group", help="and to this group (default: the user's own)")


def drop_root(user: str | None, group: str | None = None) -> None:
    """setgroups([]), setgid, setuid, in that order (after setuid there is no right left to
    change groups). From root, setuid sets the real, effective and saved uid and clears every
    capability, so nothing can take root back; that is checked, not assumed. Without root
    (a test on high ports) there is nothing to drop."""
    if user is None or os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    os.setgroups([])
    os.setgid(gid)
    os.setuid(pw.pw_uid)
    if 0 in os.getresuid() or 0 in os.getresgid() or os.getgroups():
        raise OSError(f"dropping root to {user} left uids {os.getresuid()}, gids {os.getresgid()}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError(f"still able to become root after dropping to {user}")


def tayga_argv(conf: str) -> list[str]:
    """tayga as a service (NAT64 node, CLAT): it reads its config and attaches to its TUN
    (CAP_NET_ADMIN) as root, then chroots into its data-dir and drops to nobody/nogroup with
    its own options (--chroot, --user, --group: setregid, setgroups, setreuid); after that it
    only reads and writes the TUN's descriptor and dynamic.map in the data-dir, which must
    exist, owned by the user. Its config stays outside, root's."""
    return ["tayga", "-c", conf, "--nodetach", "--user", USER, "--group", GROUP, "--chroot"]
