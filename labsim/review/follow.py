"""`--follow DEPTH`: what an app goes on to contact. Apple's advice for review failures is to
check every server the app reaches, including redirect targets and names handed out by other
responses; this finds them in a reviewed endpoint's answer:

- a redirect's Location (3xx);
- URLs (http, https, ws, wss) anywhere in a JSON, HTML or text body, and in JSON string
  values that are bare host names (`"assets": "cdn.example.com"` becomes https://NAME/).

Each is reported with where it was found. URLs are compared in their normal form
(labsim.review.urls.normalise), so one resource is reviewed once. Bounded: at most MAX_NEW
endpoints and MAX_HOSTS new hosts per review, nothing beyond DEPTH hops; the caller bounds
the time. What a bound leaves out is kept with the bound's name (LeftOut), for the report.

A value the lab's own echo backend reflected from the request (its path, query, headers,
cookies, body) is what the request carried, not something the app was handed: it is not
followed, nor is any URL that is part of the request's own URL. Following
never sends an unsafe method: everything found is fetched with GET (OPTIONS for a 307/308
of an unsafe request, as HAR replay does).

With an uplink the lab's packets leave from this host, so what a server names must not lead
into the user's own network: TargetGuard skips (and reports) every found URL whose host is,
or resolves in the lab's DNS to, a loopback, link-local, metadata, private, unspecified or
multicast address (labsim.review.urls.BLOCKED). Without an uplink everything found is in the
lab, and nothing is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import unquote, urljoin, urlsplit

from labsim.review.urls import blocked_kind, literal_address, normalise

MAX_NEW = 25
MAX_HOSTS = 10
# an IPv6 literal's brackets are part of the URL ("]" ends one elsewhere)
URL = re.compile(r"""\b(?:https?|wss?)://(?:\[[0-9a-z:.%_-]+\][^\s"'<>\\)\]}]*|[^\s"'<>\\)\]}]+)""", re.I)
HOSTNAME = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$", re.I)
# a JSON string like "config.json" is a file name, not a host
NOT_TLDS = {"json", "html", "htm", "js", "css", "png", "jpg", "jpeg", "gif", "svg", "txt", "xml",
            "yml", "yaml", "pdf", "zip", "gz", "mp4", "webp", "ico", "map", "md", "php"}


@dataclass(frozen=True)
class Found:
    url: str
    found_in: str  # where: "redirect from URL", "JSON body of URL at $.a.b", ...


# the keys of the lab echo backend's answer (labsim.node.echo_server) and those of them that
# carry the request back: what the client sent, not what the server hands out
ECHO_KEYS = frozenset({"node", "method", "path", "query", "raw_query", "headers", "remote", "tls"})
ECHO_REFLECTED = ("$.path", "$.query", "$.raw_query", "$.headers", "$.cookies", "$.body")


def is_echo(doc) -> bool:
    return isinstance(doc, dict) and ECHO_KEYS <= doc.keys()


def _reflected(path: str, echo: bool) -> bool:
    return echo and any(path == p or path.startswith((p + ".", p + "[")) for p in ECHO_REFLECTED)


def found_in_answer(url: str, facts) -> list[Found]:
    """Endpoints one answer (an http check's HttpFacts) points the app at."""
    out = _found(url, facts)
    # a URL that is part of the request's own URL (its query, say) came back from the request
    sent = unquote(url)
    return [f for f in out if f.url not in sent and unquote(f.url) not in sent]


def _found(url: str, facts) -> list[Found]:
    out: list[Found] = []
    status = facts.status or 0
    headers = facts.headers or {}
    location = facts.location or headers.get("location")
    if location and 300 <= status < 400:
        out.append(Found(urljoin(url, location), f"redirect ({status}) from {url}"))
    body = facts.body or ""
    if not body:
        return out
    ctype = (headers.get("content-type") or "").lower()
    doc = facts.json
    if doc is not None:
        echo = is_echo(doc)
        for path, value in _strings(doc, "$"):
            if _reflected(path, echo):
                continue
            for u in URL.findall(value):
                out.append(Found(_clean(u), f"JSON body of {url} at {path}"))
            if HOSTNAME.match(value) and value.rsplit(".", 1)[1].lower() not in NOT_TLDS:
                out.append(Found(f"https://{value.lower()}/", f"JSON body of {url} at {path} (host name)"))
    else:
        kind = "HTML" if "html" in ctype or body.lstrip()[:15].lower().startswith(("<!doctype", "<html")) \
            else "text"
        for u in URL.findall(body):
            out.append(Found(_clean(u), f"{kind} body of {url}"))
    return list({f.url: f for f in reversed(out)}.values())[::-1]


def _strings(doc, path: str, depth: int = 0):
    if depth > 20:
        return
    if isinstance(doc, str):
        yield path, doc
    elif isinstance(doc, dict):
        for k, v in list(doc.items())[:1000]:
            yield from _strings(v, f"{path}.{k}", depth + 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:1000]):
            yield from _strings(v, f"{path}[{i}]", depth + 1)


def _clean(u: str) -> str:
    return u.rstrip(".,;:!?")


@dataclass(frozen=True)
class LeftOut:
    """A URL --follow found and a bound kept it from: `bound` is max-new (MAX_NEW endpoints
    taken), max-hosts (MAX_HOSTS new hosts taken), depth (found at the last hop) or time
    (found after the network's time for following ran out)."""

    url: str
    found_in: str
    bound: str


def _host(url: str) -> str | None:
    try:
        return (urlsplit(url).hostname or "").rstrip(".") or None
    except ValueError:  # not a URL after all (an unbalanced "[")
        return None


class Follower:
    """Keeps the bounds across hops: what was seen (in normal form), how many new endpoints
    and hosts, and what the bounds left out."""

    def __init__(self, depth: int, seen_urls: set[str]):
        self.depth = depth
        self.seen = {normalise(u) for u in seen_urls}
        self.hosts = {_host(u) for u in seen_urls}
        self.new_hosts: set[str] = set()
        self.added = 0
        self.left_out: dict[str, LeftOut] = {}  # normal form -> what a bound left out

    @property
    def dropped(self) -> list[str]:
        return [lo.url for lo in self.left_out.values()]

    def fresh(self, found: list[Found]) -> list[Found]:
        """What in `found` is new (in normal form, as the normal form), before any bound."""
        out = []
        for f in found:
            url = normalise(f.url)
            host = _host(url)
            if url in self.seen or not host or (f.found_in.endswith("(host name)") and host in self.hosts):
                continue  # a bare name of a host already reviewed adds nothing (an echoed Host header)
            out.append(Found(url, f.found_in))
        return out

    def leave_out(self, found: list[Found], bound: str) -> None:
        for f in self.fresh(found):
            self.left_out.setdefault(f.url, LeftOut(f.url, f.found_in, bound))

    def next_hop(self, found: list[Found]) -> list[Found]:
        out = []
        for f in self.fresh(found):
            if f.url in self.seen:  # twice in this answer
                continue
            host = _host(f.url)
            if self.added >= MAX_NEW:
                self.left_out.setdefault(f.url, LeftOut(f.url, f.found_in, "max-new"))
                continue
            if host not in self.hosts and len(self.new_hosts) >= MAX_HOSTS:
                self.left_out.setdefault(f.url, LeftOut(f.url, f.found_in, "max-hosts"))
                continue
            self.seen.add(f.url)
            self.left_out.pop(f.url, None)  # found again within the bounds (a shallower hop)
            if host not in self.hosts and host is not None:
                self.new_hosts.add(host)
            self.hosts.add(host)
            self.added += 1
            out.append(f)
        return out


@dataclass(frozen=True)
class Skipped:
    """A URL --follow found and did not fetch: `kind` is the BLOCKED class (or "unchecked":
    its addresses could not be looked up), `why` the address and what it is."""

    url: str
    found_in: str
    kind: str
    why: str


# name -> (its addresses, or None when the lookup itself failed; why it failed)
Lookup = Callable[[str], tuple[list[str] | None, str]]


@dataclass
class TargetGuard:
    """What --follow may fetch through an uplink. `own`: the lab's prefixes (a packet there
    stays in the lab); `nat64`: the lab's NAT64 prefixes (an address in one is judged by the
    IPv4 address it embeds); `lookup`: the name's addresses from the lab's own resolver.

    A name is skipped when any of its addresses is blocked, not only when all are: curl may
    connect to any of them."""

    own: tuple[IPv4Network | IPv6Network, ...]
    nat64: tuple[IPv6Network, ...]
    lookup: Lookup
    _names: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    def check(self, f: Found) -> Skipped | None:
        host = (urlsplit(f.url).hostname or "").rstrip(".").lower()
        got = self._host(host)
        return Skipped(f.url, f.found_in, *got) if got else None

    def _host(self, host: str) -> tuple[str, str] | None:
        addr = literal_address(host)
        if addr is not None:
            return blocked_kind(addr, self.nat64, self.own)
        if host == "localhost" or host.endswith(".localhost"):
            return "loopback", f"{host}, the node's own loopback name"
        if host not in self._names:
            self._names[host] = self._resolved(host)
        return self._names[host]

    def _resolved(self, host: str) -> tuple[str, str] | None:
        addrs, error = self.lookup(host)
        if addrs is None:  # unknown is not safe: curl would look it up again and might get one
            return "unchecked", f"{host}: its addresses could not be looked up in the lab ({error})"
        for a in addrs:
            try:
                got = blocked_kind(ip_address(a), self.nat64, self.own)
            except ValueError:
                continue
            if got:
                return got[0], f"{host} resolves in the lab's DNS to {got[1]}"
        return None
