"""The host's apt sources (sources.list and sources.list.d, one-line and deb822), read to
find the Debian archive the offline image build fetches from. Pure text parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labsim.errors import EnvironmentMissingError
from labsim.runtime.docker.image_spec import SUITE

APT_DIR = Path("/etc/apt")


@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    signed_by: str | None = None
    origin: str = ""

    def deb822(self, suites: list[str]) -> str:
        lines = [f"Types: {' '.join(self.types)}", f"URIs: {' '.join(self.uris)}",
                 f"Suites: {' '.join(suites)}", f"Components: {' '.join(self.components)}"]
        if self.signed_by:
            lines.append(f"Signed-By: {self.signed_by}")
        return "\n".join(lines) + "\n"


def _parse_deb822(text: str, origin: str) -> list[AptSource]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "uris" not in fields or fields.get("enabled", "yes").lower() == "no":
            continue
        signed = fields.get("signed-by")
        out.append(AptSource(fields.get("types", "deb").split(), fields["uris"].split(),
                             fields.get("suites", "").split(), fields.get("components", "").split(),
                             signed if signed and "\n" not in signed else None, origin))
    return out


def _parse_one_line(text: str, origin: str) -> list[AptSource]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        opts = dict(o.split("=", 1) for o in (m.group(2) or "").strip(" []").split() if "=" in o)
        out.append(AptSource([m.group(1)], [m.group(3)], [m.group(4)], m.group(5).split(),
                             opts.get("signed-by"), origin))
    return out


def apt_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """The host's enabled apt sources, in apt's reading order."""
    out: list[AptSource] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        out += _parse_one_line(main.read_text(), str(main))
    d = apt_dir / "sources.list.d"
    for f in sorted(d.glob("*")) if d.is_dir() else []:
        if f.suffix == ".list":
            out += _parse_one_line(f.read_text(), str(f))
        elif f.suffix == ".sources":
            out += _parse_deb822(f.read_text(), str(f))
    return out


def debian_archive(suite: str = SUITE, apt_dir: Path = APT_DIR) -> AptSource:
    """The host's source for `suite` main (where debootstrap fetches the base system)."""
    for src in apt_sources(apt_dir):
        if "deb" in src.types and suite in src.suites and "main" in src.components:
            return src
    raise EnvironmentMissingError(
        f"no apt source for {suite} main in {apt_dir}/sources.list(.d): the offline image "
        "build fetches its packages from the archive apt uses")


def image_sources(suite: str = SUITE, apt_dir: Path = APT_DIR) -> str:
    """deb822 text for the image's apt: the host's entries for `suite`, -updates and -security
    (same archives, so the image gets the versions the host would)."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    parts = []
    for src in apt_sources(apt_dir):
        suites = [s for s in src.suites if s in wanted]
        if "deb" in src.types and suites and "main" in src.components:
            parts.append(src.deb822(suites))
    return "\n".join(parts)

