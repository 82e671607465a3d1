#!/usr/bin/env bash
# make demo: labsim's main job on the app-review lab. Every endpoint of the lab (HTTP, HTTPS,
# WebSocket, raw TCP) is replayed on the two networks app review uses (IPv6-only with
# DNS64/NAT64, and IPv6-only with no translation) for each client platform (linux, ios,
# android, macos), following what the answers point at (--follow 2: redirects, URLs and host
# names in bodies, such as the A-only asset host named in /app-config.json). Verdicts differ
# by platform only for the IPv4 literal, so only that row shows platforms side by side.
# The labs are removed afterwards; the HTML and JUnit reports stay in build/demo/.
set -uo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
echo "labsim review: topologies/apple-review.yml, endpoints from topologies/apple-review.urls"
.venv/bin/labsim review --topology topologies/apple-review.yml --urls topologies/apple-review.urls \
    --html "$out/review.html" --junit "$out/review.xml" --json "$out/review.json"
rc=$?
echo "reports: $out/review.html (open in a browser), $out/review.xml (JUnit), $out/review.json"
# exit 1 means "some endpoint FAILs", which is the point of this demo
[ "$rc" -le 1 ] && exit 0 || exit "$rc"
