#!/usr/bin/env bash
# make demo: labsim's main job on the app-review lab. Every endpoint of the lab is replayed on
# the two networks app review uses (IPv6-only with DNS64/NAT64, and IPv6-only with no
# translation), with a verdict and reason code per endpoint; the labs are removed afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "labsim review: topologies/apple-review.yml, endpoints from topologies/apple-review.urls"
.venv/bin/labsim review --topology topologies/apple-review.yml --urls topologies/apple-review.urls
rc=$?
# exit 1 means "some endpoint FAILs", which is the point of this demo
[ "$rc" -le 1 ] && exit 0 || exit "$rc"
