#!/usr/bin/env bash
# Install the Debian packages labsim's daemons need, only those missing.
# Services are not started on the host (policy-rc.d answers 101 while we install).
set -euo pipefail
pkgs=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "labsim: need root to install Debian packages: ${missing[*]}" >&2
  exit 3
fi
echo "labsim: installing Debian packages: ${missing[*]}" >&2
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  guard=/usr/sbin/policy-rc.d
fi
trap '[ -n "$guard" ] && rm -f "$guard"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# labsim runs its own copies of these daemons inside labs: on a systemd host, leave the ones
# this script just installed disabled, so none of them listens on the host after a reboot
if [ -d /run/systemd/system ]; then
  for p in "${missing[@]}"; do
    for f in $(dpkg -L "$p" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$'); do
      u=$(basename "$f")
      [ "${u%@.service}" != "$u" ] && u="${u%@.service}@1.service"  # templates: kresd@1
      systemctl disable --now "$u" >/dev/null 2>&1 || true
    done
  done
fi
