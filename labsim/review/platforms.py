"""Client platforms a review gives verdicts for, and how each is modelled in the lab.

What differs between platforms on an IPv6-only network is what happens to an IPv4 literal
(and to an AF_INET socket); names go through the resolver (DNS64) the same way everywhere.
docs/platforms.md cites the sources.

    linux    glibc, no CLAT: a literal has no way out. Run as is, by curl in the client.
    ios      getaddrinfo (iOS >= 9.2) synthesizes an IPv6 address for a literal from the
             prefix it discovers by RFC 7050; Happy Eyeballs. EMULATED: labsim discovers the
             prefix through the client's own libc and resolver and connects to the literal
             embedded in it (`synthesize: true` of the http/tcp checks), URL and Host as written.
    android  a CLAT (464XLAT) once a NAT64 prefix is known (PREF64, honoured only at /96,
             else RFC 7050). EMULATED by a CLAT in a client node (tayga, `clat:`): a sibling of
             the client with `clat: {prefix: auto, pref64_lengths: [96]}`.
    macos    a CLAT when the network advertises PREF64 (RFC 8781); else like iOS.

A platform whose run is the same as another's for an endpoint (a name, not a literal, from
the same node) shares that run; the facts say which. A CLAT platform runs in its own sibling
node, so it runs names itself (its CLAT may carry an A-only name's IPv4 address).
"""

from __future__ import annotations

from dataclasses import dataclass

from labsim.errors import InputError

PLATFORMS = ("linux", "ios", "android", "macos")

DESCRIPTIONS = {
    "linux": "glibc getaddrinfo, no CLAT: curl in the client as is",
    "ios": "getaddrinfo synthesizes the literal from the RFC 7050 prefix (emulated: labsim "
           "synthesizes on the client's behalf through its own resolver)",
    "android": "CLAT (464XLAT) once a NAT64 prefix is known; PREF64 only at /96 (emulated: "
               "tayga as a CLAT in a sibling client node)",
    "macos": "CLAT when PREF64 is advertised (emulated: tayga in a sibling client node), else "
             "like iOS",
}


@dataclass(frozen=True)
class Runner:
    """Where and how one platform's check runs: which node, synthesizing literals or not."""

    node: str
    synthesize: bool
    via: str  # plain, synthesize, clat: how an IPv4 literal is handled

    def key(self, literal: bool) -> tuple[str, bool]:
        """Runs with the same key give the same answer: for a name, synthesis changes nothing."""
        return (self.node, self.synthesize and literal)


def parse_platforms(items: list[str] | None) -> tuple[str, ...]:
    if not items:
        return PLATFORMS
    out = []
    for item in items:
        for name in item.split(","):
            name = name.strip().lower()
            if name not in PLATFORMS:
                raise InputError(f"--platform {name!r}: choose from {', '.join(PLATFORMS)}")
            if name not in out:
                out.append(name)
    return tuple(out)


def advertises_pref64(topology, client_networks: set[str]) -> bool:
    """Does a router advertise PREF64 on one of the client's networks?"""
    for spec in topology.nodes.values():
        ra = getattr(spec, "ra", None)
        if ra is None or ra.pref64 is None:
            continue
        nets = set(ra.networks) if ra.networks is not None else {link.network for link in spec.links}
        if nets & client_networks:
            return True
    return False


def clat_node_name(client: str, platform: str, taken: frozenset[str] = frozenset()) -> str:
    """`client-android`, or with a number when the topology already has a node of that name."""
    for i in range(1, 100):
        tail = f"-{platform}" + (f"{i}" if i > 1 else "")
        name = client[:31 - len(tail)] + tail
        if name not in taken:
            return name
    raise ValueError(f"no free node name for the {platform} CLAT client")


def runners(platforms: tuple[str, ...], client: str, pref64: bool,
            taken: frozenset[str] = frozenset()) -> dict[str, Runner]:
    out = {}
    for p in platforms:
        if p == "linux":
            out[p] = Runner(client, False, "plain")
        elif p == "ios" or (p == "macos" and not pref64):
            out[p] = Runner(client, True, "synthesize")
        else:  # android; macos on a network that advertises PREF64
            out[p] = Runner(clat_node_name(client, p, taken), False, "clat")
    return out


def clat_siblings(platforms: tuple[str, ...], client: str, pref64: bool,
                  taken: frozenset[str] = frozenset()) -> dict[str, dict]:
    """The CLAT client nodes the platforms need: node name -> `clat:` settings."""
    out = {}
    for p, r in runners(platforms, client, pref64, taken).items():
        if r.via == "clat":
            # Android: PREF64 only at /96, and the prefix in use kept while valid (NetworkStack's
            # IpClientLinkObserver.updatePref64); macOS takes the newest
            out[r.node] = {"prefix": "auto", "pref64_lengths": [96] if p == "android" else None,
                           "pref64_policy": "sticky" if p == "android" else "newest"}
    return out
