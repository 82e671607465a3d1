"""What `labsim review` reads: URLs on the command line, a URL file, a HAR capture and
`--resolve NAME=ADDRESS` pairs. Everything is checked before a lab is made; a bad input is
an InputError naming the file and the line (URL file) or entry (HAR), never a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from labsim.errors import InputError, InputErrors
from labsim.inputfiles import MAX_HAR_BYTES, read_text
from labsim.review.urls import endpoint_url  # http(s), ws(s) and tcp://HOST:PORT
from labsim.scenario import fields

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ENDPOINTS = 10_000
MAX_ERRORS = 20


@dataclass(frozen=True)
class Endpoint:
    url: str
    method: str = "GET"
    found_in: str | None = field(default=None, compare=False)  # --follow: where it was found
    depth: int = field(default=0, compare=False)


def endpoints_from(urls: list[str], urls_file: Path | None, har: Path | None) -> list[Endpoint]:
    out = []
    for i, u in enumerate(urls, 1):
        out.append(Endpoint(_url(u, f"URL argument {i}", None, None)))
    if urls_file is not None:
        out += _file_endpoints(urls_file)
    if har is not None:
        out += _har_endpoints(har)
    out = list(dict.fromkeys(out))
    if len(out) > MAX_ENDPOINTS:
        raise InputError(f"{len(out)} endpoints: at most {MAX_ENDPOINTS} can be reviewed at once")
    return out


def _url(url: object, where: str, file: str | None, line: int | None) -> str:
    try:
        return endpoint_url(url)
    except ValueError as exc:
        raise InputError(f"{url!r}: {exc}", file=file, line=line, field=where) from None


def _method(m: object, file: str | None, line: int | None, where: str) -> str:
    try:
        return fields.method(m).upper()
    except ValueError as exc:
        raise InputError(f"{m!r}: {exc}", file=file, line=line, field=where) from None


def _file_endpoints(path: Path) -> list[Endpoint]:
    """One endpoint a line: `URL` or `METHOD URL`; `#` starts a comment."""
    name = str(path)
    out, errors = [], []
    for n, line in enumerate(read_text(path, what="URL file").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) > 2:
                raise InputError("expected 'URL' or 'METHOD URL'", file=name, line=n)
            method = _method(parts[0], name, n, "method") if len(parts) == 2 else "GET"
            out.append(Endpoint(_url(parts[-1], "url", name, n), method))
        except InputError as exc:
            errors.append(exc)
    _raise(errors)
    return out


def _har_endpoints(har: Path) -> list[Endpoint]:
    """Each request of a HAR capture, once; methods that change state are replayed as
    OPTIONS, so a review never repeats a POST against a real API."""
    name = str(har)
    text = read_text(har, limit=MAX_HAR_BYTES, what="HAR file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a HAR file: invalid JSON: {exc.msg}", file=name, line=exc.lineno) from None
    except RecursionError:
        raise InputError("not a HAR file: JSON nested too deep", file=name) from None
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise InputError("not a HAR file: expected {\"log\": {\"entries\": [...]}}", file=name, field="log.entries")
    out, errors = [], []
    for i, e in enumerate(entries):
        where = f"log.entries[{i}]"
        try:
            req = e.get("request") if isinstance(e, dict) else None
            if not isinstance(req, dict):
                raise InputError("an entry needs a 'request' object", file=name, field=where)
            if "url" not in req:
                raise InputError("the request has no 'url'", file=name, field=where + ".request")
            url = _url(req["url"], where + ".request.url", name, None)
            method = _method(req.get("method", "GET"), name, None, where + ".request.method")
            out.append(Endpoint(url, method if method in SAFE_METHODS else "OPTIONS"))
        except InputError as exc:
            errors.append(exc)
    _raise(errors)
    return out


def _raise(errors: list[InputError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors[:MAX_ERRORS], more=max(len(errors) - MAX_ERRORS, 0))


def parse_resolve(items: list[str]) -> dict[str, str]:
    """`--resolve NAME=ADDRESS`: a dotted DNS name and an address without a scope id."""
    out = {}
    for item in items:
        name, sep, addr = item.partition("=")
        usage = f"--resolve {item!r}: expected NAME=ADDRESS, e.g. api.example.com=203.0.113.10"
        if not sep or not name or not addr:
            raise InputError(usage)
        try:
            addr = fields.address(addr)
        except ValueError as exc:
            raise InputError(f"{usage} ({addr!r}: {exc})") from None
        try:
            fields.dns_name(name)
        except ValueError as exc:
            raise InputError(f"{usage} ({name!r}: {exc})") from None
        if "." not in name.rstrip("."):
            raise InputError(f"{usage} with a dotted name")
        out[name.rstrip(".").lower()] = addr
    return out
