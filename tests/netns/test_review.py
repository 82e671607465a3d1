"""Tier 3: `labsim review` on the app-review lab gives exactly the expected verdict and
reason for each kind of endpoint, on both networks (real labs, real daemons)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root

EXPECTED = {  # url: (dns64-nat64, ipv6-only)
    "http://api.example.test/v1/": (("PASS", None), ("FAIL", "NO_AAAA")),
    "https://api.example.test/v1/": (("PASS", None), ("FAIL", "NO_AAAA")),
    "http://www.example.test/": (("PASS", None), ("PASS", None)),
    "http://192.0.2.2/v1/": (("FAIL", "IPV4_LITERAL"), ("FAIL", "IPV4_LITERAL")),
    "http://www.example.test/old-api": (("FAIL", "REDIRECT_TO_IPV4_LITERAL"), ("FAIL", "REDIRECT_TO_IPV4_LITERAL")),
    "http://www.example.test/config.json": (("WARN", "IPV4_LITERAL_IN_BODY"), ("WARN", "IPV4_LITERAL_IN_BODY")),
    "https://secure.example.test/": (("FAIL", "TLS_NAME_MISMATCH"), ("FAIL", "TLS_NAME_MISMATCH")),
}


def test_review_verdicts_on_both_networks(tmp_path):
    out = tmp_path / "review.json"
    res = run_labsim("review", "--topology", "topologies/apple-review.yml", "--platform", "linux",
                     "--follow", "0", "--urls", "topologies/apple-review.urls", "--json", str(out), timeout=120)
    assert res.returncode == 1, res.stderr  # there are failures, so exit 1
    got = {r["url"]: {n: row["linux"] for n, row in r["networks"].items()} for r in json.loads(out.read_text())}
    assert set(EXPECTED) <= set(got)
    for url, (a, b) in EXPECTED.items():
        for net, (verdict, reason) in (("dns64-nat64", a), ("ipv6-only", b)):
            v = got[url][net]
            assert (v["verdict"], v["reason"]) == (verdict, reason), f"{url} on {net}: {v['result']['detail']}"
    # the raw facts behind a verdict: the IPv4-only API was reached inside the NAT64 prefix
    api = got["http://api.example.test/v1/"]["dns64-nat64"]
    assert api["translated"] and api["result"]["facts"]["remote_ip"].startswith("2001:db8:64::")
    assert got["http://www.example.test/config.json"]["ipv6-only"]["result"]["facts"]["ipv4_literal_urls"] == \
        ["http://192.0.2.2"]


def test_review_without_urls_takes_the_labs_own_names(tmp_path):
    out = tmp_path / "review.json"
    res = run_labsim("review", "--topology", "topologies/apple-review.yml", "--network", "dns64-nat64",
                     "--platform", "linux", "--follow", "0", "--json", str(out), timeout=120)
    urls = {r["url"] for r in json.loads(out.read_text())}
    assert {"http://api.example.test/", "https://secure.example.test/", "http://www.example.test/old-api"} <= urls
    assert res.returncode == 1  # secure.example.test fails TLS


def test_review_bad_input_exits_2_and_creates_nothing(tmp_path):
    bad = tmp_path / "urls.txt"
    bad.write_text("http://ok.example.test/\nnot a url\n")
    res = run_labsim("review", "--urls", str(bad))
    assert res.returncode == 2 and f"{bad}:2" in res.stderr
    res = run_labsim("review", "http://x.test/", "--network", "moon")
    assert res.returncode == 2 and "dns64-nat64" in res.stderr


def test_review_har_entry_without_url_exits_2_naming_it(tmp_path):
    har = tmp_path / "app.har"
    har.write_text(json.dumps({"log": {"entries": [{"request": {"url": "wss://api.example.test/ws"}},
                                                   {"request": {"method": "POST"}}]}}))
    res = run_labsim("review", "--har", str(har))
    assert res.returncode == 2 and "log.entries[1].request" in res.stderr and "no 'url'" in res.stderr, res.stderr
    res = run_labsim("review", "tcp://api.example.test")
    assert res.returncode == 2 and "tcp:// needs a port" in res.stderr
    res = run_labsim("review", "http://x.test/", "--platform", "windows")
    assert res.returncode == 2 and "linux, ios, android, macos" in res.stderr


def test_a_name_the_lab_does_not_serve_is_not_in_lab(tmp_path):
    """issue 22: the built-in lab has no zone for the app's real API and no way out: NOT_IN_LAB
    on both networks (not DNS_SERVFAIL), said once above the table with what to do."""
    out = tmp_path / "r.json"
    res = run_labsim("review", "https://api.myapp.example/v1/", "--platform", "linux", "--follow", "0",
                     "--capture", "none", "--json", str(out), timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    row = json.loads(out.read_text())[0]["networks"]
    assert {n: (c["linux"]["verdict"], c["linux"]["reason"]) for n, c in row.items()} == {
        "dns64-nat64": ("FAIL", "NOT_IN_LAB"), "ipv6-only": ("FAIL", "NOT_IN_LAB")}
    above = res.stdout.split("app-review replay")[0]
    assert "not in the lab: api.myapp.example" in above and "--uplink" in above, res.stdout
    assert res.stdout.count("not in the lab:") == 1


def test_captures_go_beside_the_report_or_to_a_temporary_directory(tmp_path):
    """issue 22: a plain review leaves nothing in the current directory."""
    import os
    import shutil
    import subprocess

    from tests.helpers import LABSIM, REPO

    topo = str(REPO / "topologies/apple-review.yml")
    args = [LABSIM, "review", "--topology", topo, "--platform", "linux", "--network", "dns64-nat64",
            "--follow", "0", "http://192.0.2.2/v1/"]  # fails: the capture is kept
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    res = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert res.returncode == 1, res.stdout + res.stderr
    assert list(cwd.iterdir()) == []
    where = [line.split("captures kept in ", 1)[1].strip() for line in res.stdout.splitlines()
             if "captures kept in " in line]
    assert len(where) == 1 and where[0].startswith("/tmp/labsim-captures-"), res.stdout
    try:
        assert list(Path(where[0]).rglob("*.pcap")), where
    finally:
        shutil.rmtree(where[0])
    reports = tmp_path / "reports"
    reports.mkdir()
    os.chown(reports, 65534, 65534)  # the user's directory (as under sudo or in the runner image)
    res = subprocess.run([*args, "--json", str(reports / "r.json")], capture_output=True, text=True,
                         timeout=120, cwd=cwd)
    assert res.returncode == 1 and list(cwd.iterdir()) == []
    pcaps = list((reports / "labsim-captures").rglob("*.pcap"))
    assert pcaps
    # what labsim wrote there is the user's: the report, the capture directories, the pcaps
    for p in [reports / "r.json", reports / "labsim-captures", *pcaps, *(x.parent for x in pcaps)]:
        assert p.stat().st_uid == 65534, p
    assert f"captures kept in {reports / 'labsim-captures'}" in res.stdout.replace("\n", "")
