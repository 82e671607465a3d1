"""`labsim init DIR --api URL`: a starter project for a team's own API.

It writes
  topologies/dns64-nat64.yml  the app-review network: an IPv6-only client, DNS64 (unbound),
                              NAT64 (tayga), and a stand-in for the API under the API's own
                              names (the lab's authoritative DNS serves them; the lab CA signs
                              a certificate for them), dual-stack as an API should be;
  topologies/ipv6-only.yml    the same network with no translation at all;
  scenarios/<network>.yml     each API URL fetched from the client on that network;
  .github/workflows/labsim.yml  runs the scenarios on a GitHub runner, uploads JUnit and JSON.

Everything user-given (names, URLs) is written through the YAML dumper, never pasted into
text. Existing files are left alone unless `force`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from labsim.errors import InputError
from labsim.outputs import make_dirs, write_text

NAT64_PREFIX = "2001:db8:64::/96"
V6NET, V4NET = "2001:db8:1::/64", "192.0.2.0/24"
NETWORKS = ("dns64-nat64", "ipv6-only")
MAX_APIS = 20

WORKFLOW = """\
# IPv6-only readiness of the API, on the two networks app review uses (written by labsim init).
# labsim needs root (network namespaces) and Debian/Ubuntu packages of the daemons
# (tayga, unbound, PowerDNS, ...): `labsim setup` installs them on the runner.
name: ipv6-readiness
on:
  push:
  pull_request:
  workflow_dispatch:
jobs:
  labsim:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    env:
      # what to pip install: a labsim wheel's URL, a git+https URL, or a version on your own
      # index. labsim is not on PyPI: set it here or as the repository variable LABSIM_PACKAGE.
      LABSIM_PACKAGE: {package}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install labsim and the daemons it runs
        run: |
          if [ -z "$LABSIM_PACKAGE" ]; then
            echo "::error::set the repository variable LABSIM_PACKAGE (a labsim wheel URL or git+https URL)"
            exit 1
          fi
          python -m pip install "$LABSIM_PACKAGE"
          sudo "$(command -v labsim)" setup
          sudo "$(command -v labsim)" setup --check
      - name: Run the scenarios
        run: sudo "$(command -v labsim)" run scenarios/ --junit labsim-junit.xml --json labsim.json
      - name: Upload the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: labsim-reports
          path: |
            labsim-junit.xml
            labsim.json
"""


def api_hosts(urls: list[str]) -> list[tuple[str, str]]:
    """(url, host name) for each --api URL; IP literals and odd ports are refused."""
    if not urls:
        raise InputError("--api: give the URL of your API, e.g. --api https://api.example.com/")
    if len(urls) > MAX_APIS:
        raise InputError(f"--api: at most {MAX_APIS} URLs")
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--api {url!r}: an http:// or https:// URL with a host name")
        host = parts.hostname.rstrip(".").lower()
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise InputError(f"--api {url!r}: an IP literal cannot be given a name in the lab; "
                             "use the host name your app uses")
        if parts.port not in (None, 80, 443):
            raise InputError(f"--api {url!r}: the lab's stand-in serves ports 80 and 443 only")
        labels = host.split(".")
        if len(labels) < 2 or not all(labels) or len(host) > 253:
            raise InputError(f"--api {url!r}: {host!r} is not a fully qualified host name")
        path = parts.path or "/"
        out.append((f"{parts.scheme}://{host}{path}" + (f"?{parts.query}" if parts.query else ""), host))
    return out


def zone_for(host: str) -> str:
    """The zone the lab's authoritative server holds for `host`: its parent (api.example.com
    -> example.com), or the name itself when it has only two labels."""
    labels = host.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else host


def topology(network: str, hosts: list[str]) -> dict:
    zones = sorted({zone_for(h) for h in hosts})
    dns64: dict = {"kind": "dns64", "links": ["v6net"]}
    nat64: dict = {"kind": "nat64", "links": ["v6net", "v4net"], "pool4": "198.18.0.0/24"}
    if network == "ipv6-only":
        dns64["synthesize"] = False
        nat64["translate"] = False
    return {
        "name": network,
        "description": f"your API's names on the {network} network app review uses",
        "nat64_prefix": NAT64_PREFIX,
        "networks": {"v6net": {"ipv6": V6NET}, "v4net": {"ipv4": V4NET}},
        "nodes": {
            "client": {"kind": "client", "links": ["v6net"], "resolver": {"nameservers": ["dns64"]}},
            "dns64": dns64,
            "nat64": nat64,
            "ns": {"kind": "authdns", "links": ["v6net"], "zones": {z: {} for z in zones}},
            "api": {"kind": "backend", "links": ["v6net", "v4net"], "names": sorted(set(hosts))},
        },
    }


def scenario(network: str, apis: list[tuple[str, str]]) -> dict:
    steps: list[dict] = []
    for url, host in apis:
        steps.append({"name": f"{host} resolves to IPv6 on the client",
                      "resolve": {"from": "client", "name": host}, "expect": {"family": 6}})
        steps.append({"name": f"GET {url}", "http": {"from": "client", "url": url},
                      "expect": {"status": 200}})
    return {"name": f"api-on-{network}",
            "description": f"the API answers an IPv6-only client on the {network} network",
            "topology": f"../topologies/{network}.yml", "steps": steps}


TOPOLOGY_HEADER = """\
# Written by labsim init: the {network} network app review uses, with a stand-in for your API
# under its own names (the lab's DNS serves them; the lab CA signs its certificate).
# The stand-in is dual-stack, as an API should be. Make it IPv4-only (api: links: [v4net])
# to see what app review sees today if your API has no AAAA record: on ipv6-only it fails
# with NO_AAAA. To run your own server instead, see `kind: container` in labsim's README.
"""
SCENARIO_HEADER = ('# Written by labsim init. Run: sudo "$(command -v labsim)" run scenarios/'
                   "   (labsim validate FILE checks it)\n")
# the workflow's install source when `init` is given none: the repository variable, checked by
# the workflow's first step (labsim is not on PyPI: `pip install labsim` would fail there)
PACKAGE_FROM_VARIABLE = "${{ vars.LABSIM_PACKAGE }}"


def render(apis: list[tuple[str, str]], package: str | None = None) -> dict[str, str]:
    """Relative path -> text of every file of the project; `package` is what the workflow pip
    installs (default: the LABSIM_PACKAGE repository variable)."""
    hosts = [h for _, h in apis]
    files: dict[str, str] = {}
    for net in NETWORKS:
        files[f"topologies/{net}.yml"] = TOPOLOGY_HEADER.format(network=net) + _dump(topology(net, hosts))
        files[f"scenarios/{net}.yml"] = SCENARIO_HEADER + _dump(scenario(net, apis))
    source = _yaml_scalar(package or PACKAGE_FROM_VARIABLE)
    files[".github/workflows/labsim.yml"] = WORKFLOW.replace("{package}", source)
    return files


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _yaml_scalar(value: str) -> str:
    """`value` as one YAML scalar on the workflow's line (quoted: a URL may hold `#` or `:`)."""
    return yaml.safe_dump(value, default_style='"', width=10_000).strip().removesuffix("...").strip()


def write_project(directory: Path, urls: list[str], force: bool = False,
                  package: str | None = None) -> tuple[list[Path], list[Path]]:
    """Write the project's missing files (every file with `force`); a file that exists is
    left as it is. Returns (written, kept)."""
    if package is not None and (not package.strip() or any(c in package for c in "\n\r\0")):
        raise InputError("--install-from: a pip requirement, wheel URL or git+https URL on one line")
    files = render(api_hosts(urls), package)
    targets = {directory / rel: text for rel, text in files.items()}
    kept = [p for p in targets if p.exists() and not force]
    written = [p for p in targets if p not in kept]
    for path in written:  # the user's directory: its owner's files even under sudo
        make_dirs(path.parent)
        write_text(path, targets[path])
    return written, kept
