"""The second line of defence: one small helper per rendered format.

The model's types (`labsim.model.types`) already refuse anything but names, addresses and
plain words. Renderers still pass every value that came from a topology through the helper
of their format, which REFUSES (raises UnsafeValue) anything that could change the file's
structure there, instead of trying to quote it: a zone file's `;`, `$`, `(` and
whitespace; a Lua string's quotes and backslashes; nginx/haproxy/unbound/BIND/resolv.conf
separators, quotes and comments. Values that pass are returned unchanged (TXT data is the
one value that is quoted, with its `"` and `\\` escaped, as the zone file format defines).
"""

from __future__ import annotations

import re

# What any of these formats can take unquoted: names, addresses, prefixes, ports, paths.
_WORD = re.compile(r"[A-Za-z0-9_.:/@*\[\]-]+")


class UnsafeValue(ValueError):
    """A value would change the structure of the file it is rendered into."""


def _word(text: str, fmt: str, pattern: re.Pattern = _WORD) -> str:
    if not isinstance(text, str) or not pattern.fullmatch(text):
        raise UnsafeValue(f"{text!r} cannot be written into {fmt}: only names, addresses and "
                          "plain words are")
    return text


def zone_word(text: str) -> str:
    """An owner, name or address in a zone file (no ';', '$', '(', '"', whitespace)."""
    return _word(text, "a zone file", re.compile(r"[A-Za-z0-9_.:@*-]+"))


def zone_txt(text: str) -> str:
    """TXT data as zone-file character-strings: quoted, '\\' and '"' escaped, 255 per string."""
    if not re.fullmatch(r"[\x20-\x7e]*", text):
        raise UnsafeValue("TXT data must be printable ASCII")
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def lua_str(text: str) -> str:
    """A single-quoted Lua string literal (kresd.conf, pdns-recursor scripts, LUA records):
    names and addresses only, so no quote or backslash can end or bend the string."""
    return "'" + _word(text, "a Lua string", re.compile(r"[A-Za-z0-9_.:/-]+")) + "'"


def nginx_word(text: str) -> str:
    """An nginx directive argument (no ';', '{', '}', '#', '$', quotes or whitespace)."""
    return _word(text, "nginx.conf")


def haproxy_word(text: str) -> str:
    """A haproxy.cfg word (no whitespace, '#', quotes or backslash)."""
    return _word(text, "haproxy.cfg")


def unbound_str(text: str) -> str:
    """A double-quoted unbound.conf value (no '"', no whitespace)."""
    return '"' + _word(text, "unbound.conf") + '"'


def unbound_word(text: str) -> str:
    """An unquoted unbound.conf value: an address."""
    return _word(text, "unbound.conf", re.compile(r"[A-Za-z0-9.:@]+"))


def bind_str(text: str) -> str:
    """A double-quoted named.conf string (no '"', '\\', ';', braces or whitespace)."""
    return '"' + _word(text, "named.conf") + '"'


def bind_word(text: str) -> str:
    """An unquoted named.conf word: an address or prefix in an address match list."""
    return _word(text, "named.conf", re.compile(r"[A-Za-z0-9.:/]+"))


def conf_word(text: str) -> str:
    """A value in PowerDNS's key=value files (no '#', ',', '=' or whitespace)."""
    return _word(text, "a PowerDNS config file")


def resolv_word(text: str) -> str:
    """One word of resolv.conf (no whitespace, '#' or ';')."""
    return _word(text, "resolv.conf", re.compile(r"[A-Za-z0-9_.:-]+"))


def hosts_word(text: str) -> str:
    """An address or name in /etc/hosts."""
    return _word(text, "/etc/hosts", re.compile(r"[A-Za-z0-9_.:-]+"))


def file_component(text: str) -> str:
    """One component of a path labsim writes: no '/', no '..', not hidden."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text) or ".." in text:
        raise UnsafeValue(f"{text!r} cannot be a file name")
    return text
