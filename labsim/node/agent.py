"""The in-node agent: what an application sees, measured inside a node, printed as JSON.

Runs with labsim's interpreter inside a node (`ip netns exec ... python -m labsim.node.agent`),
so name resolution is the node's own libc reading the node's own resolv.conf. Standard
library only, to start fast.

    resolve NAME [--family any|4|6] [--no-addrconfig]
    tcp HOST PORT [--timeout S]            getaddrinfo, then connect in order like an app
    tls HOST PORT [--servername N]         a verified TLS handshake; certificate names
    synthesize IPV4                        RFC 7050 discovery through libc, the IPv4
                                           address embedded in the first prefix (RFC 6052)
    measure TEMPLATE --count N [--family] [--gap-ms G] [--max-seconds S] [--concurrency C]
                                           N getaddrinfo calls in this one process; `{i}` in
                                           the name makes each one unique (cold cache)
"""

from __future__ import annotations

import argparse
import encodings.idna  # noqa: F401 - see below
import errno
import json
import socket
import ssl
import sys
import time

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# socket.getaddrinfo encodes a str host with the idna codec, which Python imports on first use
# (with stringprep and unicodedata: ~4 ms against 0.3 ms for a lookup from the hosts file
# here). Imported with this module, so no timed lookup includes it, and the fork server
# (labsim.node.forkserver), which preloads this module, does it once for every check.
FAMILIES = {"any": socket.AF_UNSPEC, "4": socket.AF_INET, "6": socket.AF_INET6}
EAI_NAMES = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}


def resolve(name: str, family: str = "any", addrconfig: bool = True) -> dict[str, Any]:
    flags = socket.AI_ADDRCONFIG if addrconfig else 0
    t0 = time.perf_counter()
    try:
        infos = socket.getaddrinfo(name, None, FAMILIES[family], socket.SOCK_STREAM, 0, flags)
        err = None
    except socket.gaierror as exc:
        infos, err = [], {"code": EAI_NAMES.get(exc.errno, str(exc.errno)), "text": exc.strerror}
    ms = (time.perf_counter() - t0) * 1000
    addrs = list(dict.fromkeys(i[4][0] for i in infos))
    return {"addresses": addrs, "error": err, "ms": ms}


def tcp(host: str, port: int, timeout: float) -> dict[str, Any]:
    res = resolve(host)
    out: dict[str, Any] = {"resolve": res, "attempts": [], "connected": None, "ms": None}
    for addr in res["addresses"]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        t0 = time.perf_counter()
        try:
            s.connect((addr, port))
            out["connected"], out["ms"] = addr, (time.perf_counter() - t0) * 1000
            out["attempts"].append({"address": addr, "error": None, "ms": out["ms"]})
            s.close()
            break
        except OSError as exc:
            code = "ETIMEDOUT" if isinstance(exc, TimeoutError) else errno.errorcode.get(exc.errno or 0, str(exc.errno))
            out["attempts"].append({"address": addr, "error": code, "ms": (time.perf_counter() - t0) * 1000})
        finally:
            s.close()
    return out


def tls(host: str, port: int, servername: str | None, timeout: float) -> dict[str, Any]:
    out = tcp(host, port, timeout)
    if out["connected"] is None:
        return out
    addr = out["connected"]
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ctx = ssl.create_default_context()
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect((addr, port))
    t0 = time.perf_counter()
    try:
        with ctx.wrap_socket(raw, server_hostname=servername or host) as s:
            # a verified handshake always has a certificate and a cipher
            cert, cipher = s.getpeercert() or {}, s.cipher() or ("",)
            sans = cert.get("subjectAltName", ())
            out["tls"] = {"ok": True, "version": s.version(), "cipher": cipher[0],
                          "names": [v for _k, v in sans] if isinstance(sans, tuple) else [],
                          "ms": (time.perf_counter() - t0) * 1000}
    except ssl.SSLCertVerificationError as exc:
        out["tls"] = {"ok": False, "verify_code": exc.verify_code, "error": exc.verify_message,
                      "names": _unverified_names(addr, port, servername or host, timeout)}
    except (ssl.SSLError, OSError) as exc:
        out["tls"] = {"ok": False, "verify_code": None, "error": str(exc)}
    return out


def _unverified_names(addr: str, port: int, sni: str, timeout: float) -> list[str]:
    """The names the server's certificate does carry, to show next to a mismatch.

    Standard library only (this runs in the node under `python -S`): the ssl module decodes a
    certificate only from a file (`_ssl._test_decode_cert`, what `ssl` itself uses for
    `getpeercert()`'s dict), so the DER goes through a private temporary PEM file."""
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as raw:
            raw.settimeout(timeout)
            raw.connect((addr, port))
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                der = s.getpeercert(binary_form=True)
        if not der:
            return []
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
            f.flush()
            decoded = ssl._ssl._test_decode_cert(f.name)  # type: ignore[attr-defined]
        return [str(v) for _kind, v in decoded.get("subjectAltName", ())]
    except Exception:  # only decoration for the report
        return []


def synthesize(ipv4: str) -> dict[str, Any]:
    """The NAT64 prefix from ipv4only.arpa AAAA through this node's libc (RFC 7050), with
    `ipv4` embedded in it (RFC 6052); address None when no prefix shows."""
    from labsim.node.nat64prefix import WKN, discover_prefixes, embed

    res = resolve(WKN.rstrip("."), "6", addrconfig=False)
    prefixes = discover_prefixes([a.split("%")[0] for a in res["addresses"]])
    err = res["error"]["code"] if res["error"] else None
    return {"from": ipv4, "answers": res["addresses"], "error": err, "ms": res["ms"],
            "prefixes": [str(p) for p in prefixes], "prefix": str(prefixes[0]) if prefixes else None,
            "address": str(embed(ipv4, prefixes[0])) if prefixes else None}


def measure(template: str, count: int, family: str, gap_ms: float, max_seconds: float,
            concurrency: int = 1) -> dict[str, Any]:
    """Time `count` lookups through libc; stop early when `max_seconds` is spent. With
    `concurrency` > 1, that many lookups are in flight at once (threads: getaddrinfo releases
    the GIL), each timed on its own, so a series of lookups that each wait out a resolver
    timeout takes count/concurrency timeouts of wall time, not count."""
    run = "%06x" % (int(time.time() * 1000) & 0xFFFFFF)  # so two runs never share a cold name
    # libc's first lookup in a process reads nsswitch.conf, gai.conf and the hosts file and
    # sets up its NSS modules: 3-7 ms against 0.2 ms, which made the first sample of every
    # slice the p95. `localhost` (in every node's hosts file) does that without a DNS query.
    try:
        socket.getaddrinfo("localhost", None, FAMILIES[family], socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    except OSError:
        pass
    deadline = time.monotonic() + max_seconds

    def one(i: int) -> dict[str, Any] | None:
        if i and time.monotonic() > deadline:
            return None
        res = resolve(template.format(i=i, run=run), family)
        code = res["error"]["code"] if res["error"] else (None if res["addresses"] else "NO_ADDRESS")
        return {"ms": res["ms"], "error": code}

    samples = []
    if concurrency > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            samples = [s for s in pool.map(one, range(count)) if s is not None]
        return {"samples": samples, "requested": count}
    for i in range(count):
        if i and gap_ms:  # between lookups, not after the last one
            time.sleep(gap_ms / 1000)
        sample = one(i)
        if sample is None:
            break
        samples.append(sample)
    return {"samples": samples, "requested": count}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="labsim.node.agent", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="op", required=True)
    r = sub.add_parser("resolve")
    r.add_argument("name")
    r.add_argument("--family", choices=FAMILIES, default="any")
    r.add_argument("--no-addrconfig", action="store_true")
    for op in ("tcp", "tls"):
        p = sub.add_parser(op)
        p.add_argument("host")
        p.add_argument("port", type=int)
        p.add_argument("--timeout", type=float, default=3.0)
        if op == "tls":
            p.add_argument("--servername")
    sub.add_parser("synthesize").add_argument("ipv4")
    m = sub.add_parser("measure")
    m.add_argument("template")
    m.add_argument("--count", type=int, default=100)
    m.add_argument("--family", choices=FAMILIES, default="any")
    m.add_argument("--gap-ms", type=float, default=0.0)
    m.add_argument("--max-seconds", type=float, default=120.0)
    m.add_argument("--concurrency", type=int, default=1)
    a = ap.parse_args(argv)
    if a.op == "measure":
        out = measure(a.template, a.count, a.family, a.gap_ms, a.max_seconds, max(1, a.concurrency))
    elif a.op == "synthesize":
        out = synthesize(a.ipv4)
    elif a.op == "resolve":
        out = resolve(a.name, a.family, not a.no_addrconfig)
    elif a.op == "tcp":
        out = tcp(a.host, a.port, a.timeout)
    else:
        out = tls(a.host, a.port, a.servername, a.timeout)
    write_json(out)
    return 0


def write_json(obj: object) -> None:
    """One write: `json.dump` writes piece by piece, a system call each when stdout is
    unbuffered (PYTHONUNBUFFERED, as a check's environment may have it): ~60 for a tcp
    report."""
    sys.stdout.write(json.dumps(obj))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
