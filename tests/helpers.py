"""Shared test helpers: the installed `labsim` command, unique lab names, and a snapshot of the
host's own network state so tests can prove a lab left nothing behind.

Tests that need root are marked `root`; outside CI they skip without it, in CI (CI=true) a
missing requirement is a failure, never a silent skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
LABSIM = str(Path(sys.executable).parent / "labsim")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run_labsim(*args: str, timeout: float = 60, check: bool = False, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([LABSIM, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"labsim {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


_LAB_OF = re.compile(r"(?:\bls-([a-z0-9-]+)(?:_|\b)|/run/labsim/([^/]+))")


def _mine(item: str, lab: str | None) -> bool:
    """Keep host entries and those of labs named `lab...`; other labs (other tests, other people) may come
    and go meanwhile without making this test's comparison fail."""
    m = _LAB_OF.search(item)
    return lab is None or m is None or (m.group(1) or m.group(2)).startswith(lab)


def host_snapshot(lab: str | None = None) -> dict:
    """The host namespace's own network state, and labsim's traces on the file system.
    With `lab`, other labs' namespaces, mounts and files are left out."""
    def cmd(*argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout

    sysctls = {}
    for base in ("/proc/sys/net/ipv4", "/proc/sys/net/ipv6/conf/all", "/proc/sys/net/ipv6/conf/default",
                 "/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv4/conf/default", "/proc/sys/net/core"):
        for p in Path(base).glob("*"):
            if p.is_file():
                sysctls[str(p)] = _read(p)
    links = json.loads(cmd("ip", "-j", "link", "show") or "[]")
    addrs = json.loads(cmd("ip", "-j", "addr", "show") or "[]")
    snap = {
        "links": sorted((l["ifname"], l.get("operstate")) for l in links),
        "addrs": sorted((a["ifname"], i["local"], i["prefixlen"]) for a in addrs for i in a.get("addr_info", [])),
        "routes4": cmd("ip", "-4", "route", "show", "table", "all"),
        "routes6": cmd("ip", "-6", "route", "show", "table", "all"),
        "rules": cmd("ip", "rule", "show") + cmd("ip", "-6", "rule", "show"),
        "nft": cmd("nft", "list", "ruleset"),
        "sysctls": sysctls,
        # Docker's own storage and netns mounts come and go with any container on the host;
        # labsim's docker runtime is checked through Docker itself (containers by label)
        # (and /run/netns itself: the first namespace made on a machine makes it a shared
        # mount point, as `ip netns add` does, and it stays so)
        "mounts": sorted(m for m in (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
                         if not m.startswith(("/var/lib/docker/", "/run/docker/")) and m != "/run/netns"),
        "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "etc_netns": sorted(os.listdir("/etc/netns")) if os.path.isdir("/etc/netns") else [],
        "run_labsim": sorted(str(p) for p in Path("/run/labsim").rglob("*")) if os.path.isdir("/run/labsim") else [],
    }
    for key in ("mounts", "netns", "etc_netns", "run_labsim"):
        snap[key] = [i for i in snap[key] if _mine(i, lab)]
    return snap


def lab_processes(lab: str) -> list[str]:
    """Live (non-zombie) processes whose command line mentions the lab's directory."""
    needle = f"/run/labsim/{lab}/".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(pid + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def assert_same_host(before: dict, after: dict) -> None:
    for key in before:
        assert before[key] == after[key], f"host {key} changed"


UPDATE_GOLDEN = os.environ.get("LABSIM_UPDATE_GOLDEN") == "1"


def assert_golden(base: Path, files: dict[str, str], label: str) -> None:
    """Rendered files against tests/golden/...; LABSIM_UPDATE_GOLDEN=1 rewrites them (and
    removes stale ones)."""
    if UPDATE_GOLDEN:
        for stale in [p for p in base.rglob("*") if p.is_file() and str(p.relative_to(base)) not in files]:
            stale.unlink()
        for rel, text in files.items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_text(text)
    on_disk = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    assert on_disk == sorted(files), "rendered file set changed; LABSIM_UPDATE_GOLDEN=1 to regenerate"
    for rel, text in files.items():
        assert text == (base / rel).read_text(), f"{label}/{rel} differs; LABSIM_UPDATE_GOLDEN=1 to regenerate"


def parse_curl(stdout: str) -> tuple[int, str, dict | None]:
    """(http code, remote ip, echo JSON or None) from curl's body + `-w CURL_W` tail line."""
    body, _, tail = stdout.rpartition("\n")
    code, remote, _verify = (tail.split() + ["", "", ""])[:3]
    try:
        echo = json.loads(body) if body.strip() else None
    except json.JSONDecodeError:
        echo = None
    return int(code or 0), remote, echo


def edited(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced by `new`; `old` must be there (an edit of a shipped file that
    no longer matches must fail loudly, not test the unedited file)."""
    assert old in text, f"{old!r} is no longer in the file this test edits"
    return text.replace(old, new)


# a scenario on the smallest lab (a client and an authoritative server with one AAAA);
# format with `name` and `steps` (YAML list items, indented two spaces; braces doubled)
SMALL_SCENARIO = """name: {name}
topology:
  networks: {{lan: {{ipv6: "2001:db8:7::/64"}}}}
  nodes:
    client: {{kind: client, links: [lan]}}
    ns:
      kind: authdns
      links: [lan]
      zones: {{example.test: {{records: {{www: {{AAAA: "2001:db8:7::99"}}}}}}}}
steps:
{steps}"""
