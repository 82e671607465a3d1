"""Endpoint URLs a review accepts beyond http(s): ws://, wss:// and tcp://HOST:PORT.

Each is held to the same rules as an http(s) URL (labsim.scenario.fields.http_url: no
option-like start, no whitespace or control characters, no curl globs, a real host, no scope
id) by checking its http(s) twin; a tcp:// URL needs a port and carries nothing but an
optional trailing '/'.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from labsim.scenario import fields

TWIN = {"ws": "http", "wss": "https", "tcp": "http"}


def endpoint_url(v: object) -> str:
    if not isinstance(v, str):
        return fields.http_url(v)  # its own error for a non-string
    scheme, sep, rest = v.partition("://")
    kind = scheme.lower()
    if not sep or kind not in TWIN:
        try:
            return fields.http_url(v)
        except ValueError as exc:
            if "only http" in str(exc):
                raise ValueError("only http://, https://, ws://, wss:// and tcp://HOST:PORT endpoints "
                                 "can be reviewed") from None
            raise
    fields.http_url(f"{TWIN[kind]}://{rest}")
    if kind == "tcp":
        u = urlsplit(v)
        if u.port is None:
            raise ValueError("tcp:// needs a port (tcp://HOST:PORT)")
        if u.path not in ("", "/") or u.query or u.fragment or u.username or u.password:
            raise ValueError("a tcp:// endpoint is tcp://HOST:PORT and nothing more")
    return v
