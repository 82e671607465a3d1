"""dhcpcd's hook script in a `stack: dhcpcd` client (`--script`): one JSON line per event it
is run for (reason, interface, and the DHCPv4 lease / router advertisement variables dhcpcd
hands its hooks), appended to the events file named in its first line's `EVENTS`, then the
stock hooks (`dhcpcd-run-hooks`: resolv.conf) run as they would without it.

Rendered verbatim into the node directory (labsim.kinds.client) and run by dhcpcd's
privileged process with `/usr/bin/python3 -S`: standard library only, no labsim import (in a
container the package is not on dhcpcd's path). labsim.node.dhcpcdview reads the lines.
"""

import json
import os
import sys
import time

EVENTS = "dhcpcd-events.jsonl"  # the renderer rewrites this line with the node's path
RUN_HOOKS = "/usr/lib/dhcpcd/dhcpcd-run-hooks"
# the variables that carry what dhcpcd learnt; the rest (PATH, ...) are not facts
KEEP = ("reason", "interface", "protocol", "ifcarrier", "if_up", "if_down", "pid")
PREFIXES = ("new_", "old_", "nd")


def event(env: dict[str, str]) -> dict[str, object]:
    return {"t": time.time(), "reason": env.get("reason", ""), "interface": env.get("interface", ""),
            "env": {k: v for k, v in sorted(env.items()) if k in KEEP or k.startswith(PREFIXES)}}


def main() -> None:
    try:
        with open(EVENTS, "a") as f:
            f.write(json.dumps(event(dict(os.environ)), sort_keys=True) + "\n")
    except OSError as exc:  # a lost event must not stop dhcpcd's own hooks
        print(f"dhcpcd-hook: {EVENTS}: {exc}", file=sys.stderr)
    if os.path.exists(RUN_HOOKS):
        os.execv(RUN_HOOKS, [RUN_HOOKS, *sys.argv[1:]])


if __name__ == "__main__":
    main()
