"""Probe kernel networking features labsim needs. Run as `unshare --net -- python -m
labsim.node.kernel_probe`: everything it creates lives in that throwaway namespace and is gone
when the process exits (the host's interfaces, routes and rulesets are never touched).

Prints one line per feature: `name<TAB>ok|fail<TAB>detail`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

TIMEOUT_S = 5
PROBES = {
    "veth": [["ip", "link", "add", "lsprobe0", "type", "veth", "peer", "name", "lsprobe1"]],
    "bridge": [["ip", "link", "add", "lsprobebr", "type", "bridge"]],
    "tun": [["ip", "tuntap", "add", "dev", "lsprobetun", "mode", "tun"]],
    "nftables": [["nft", "add", "table", "inet", "labsimprobe"],
                 ["nft", "add", "chain", "inet", "labsimprobe", "c",
                  "{ type filter hook forward priority 0 ; }"]],
}


def probe(argvs: list[list[str]]) -> tuple[bool, str]:
    for argv in argvs:
        if shutil.which(argv[0]) is None:
            return False, f"no `{argv[0]}` binary"
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False, f"`{' '.join(argv[:3])}` took more than {TIMEOUT_S}s"
        if proc.returncode != 0:
            return False, (proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[0][:160]
    return True, "created in a throwaway namespace"


def parse(text: str) -> dict[str, tuple[bool, str]]:
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition("\t")
        state, _, detail = rest.partition("\t")
        if name in PROBES:
            out[name] = (state == "ok", detail)
    for name in PROBES:  # a probe that printed nothing did not succeed
        out.setdefault(name, (False, "the probe gave no answer"))
    return out


def main() -> int:
    for name, argvs in PROBES.items():
        ok, detail = probe(argvs)
        print(f"{name}\t{'ok' if ok else 'fail'}\t{detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
