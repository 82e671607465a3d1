#!/usr/bin/env bash
# make demo: bring up the app-review network, fetch the IPv4-only API from the IPv6-only
# client through DNS64/NAT64, show what happened, and tear the lab down on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
labsim=.venv/bin/labsim
lab=demo-$$
trap '$labsim down "$lab" >/dev/null 2>&1 || true' EXIT INT TERM
$labsim up topologies/apple-review.yml --name "$lab"
run() { echo; echo "\$ labsim exec --lab $lab $*"; $labsim exec --lab "$lab" "$@"; }
run client -- ip -4 addr show
run client -- cat /etc/resolv.conf
run client -- getent ahosts api.example.test
run client -- curl -sS -m 5 -w '\n-> HTTP %{http_code} from %{remote_ip} (the API'"'"'s IPv4 address inside the NAT64 prefix)\n' 'http://api.example.test/demo?from=ipv6-only'
run client -- curl -sS -m 5 -o /dev/null -w 'HTTPS %{http_code}, certificate verified against the lab CA (verify result %{ssl_verify_result})\n' https://api.example.test/
echo
$labsim down "$lab"
trap - EXIT
