"""Tier 2: `labsim run --capture`: a failing step leaves pcaps (client and NAT64) that
`tcpdump -r` reads, named in the JSON and JUnit results, with a summary line printed; a
passing step's pcaps are deleted under `failed`; `none` captures nothing."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.helpers import REPO, run_labsim

pytestmark = pytest.mark.root

SCENARIO = f"""name: {{name}}
topology: {REPO}/topologies/apple-review.yml
steps:
  - name: fails on purpose (an IPv4 literal)
    http: {{{{from: client, url: "http://192.0.2.2/", timeout: 1}}}}
    expect: {{{{status: 200}}}}
  - http: {{{{from: client, url: "http://api.example.test/"}}}}
    expect: {{{{status: 200}}}}
"""


def test_failed_step_leaves_readable_pcaps(tmp_path, lab_name):
    f = tmp_path / "cap.yml"
    f.write_text(SCENARIO.format(name=lab_name))
    out = tmp_path / "caps"
    res = run_labsim("run", str(f), "--capture", "failed", "--capture-dir", str(out),
                     "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"), timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    steps = json.loads((tmp_path / "r.json").read_text())[0]["steps"]
    caps = steps[0]["captures"]
    assert [c["node"] for c in caps] == ["client", "nat64"] and steps[1]["captures"] == []
    client = caps[0]
    assert re.match(r"\d+ pkts", client["summary"]) and "SYN to" not in client["summary"]  # no IPv4 route: no SYN
    read = subprocess.run(["tcpdump", "-n", "-r", client["path"]], capture_output=True, text=True, timeout=30)
    assert read.returncode == 0 and "reading from file" in read.stderr
    assert f"step 1 capture client: {client['summary']}" in " ".join(res.stdout.split())
    assert f"[[ATTACHMENT|{client['path']}]]" in (tmp_path / "r.xml").read_text()
    assert sorted(p.name for p in out.rglob("*.pcap")) == ["01-client.pcap", "01-nat64.pcap"]


def test_capture_none_writes_nothing(tmp_path, lab_name):
    f = tmp_path / "cap.yml"
    f.write_text(SCENARIO.format(name=lab_name))
    out = tmp_path / "caps"
    res = run_labsim("run", str(f), "--capture", "none", "--capture-dir", str(out), timeout=120)
    assert res.returncode == 1 and not out.exists()


def test_passing_steps_leave_no_directory(tmp_path, lab_name):
    f = tmp_path / "ok.yml"
    f.write_text(SCENARIO.format(name=lab_name).split("  - name: fails")[0]
                 + "  - http: {from: client, url: \"http://api.example.test/\"}\n")
    out = tmp_path / "caps"
    res = run_labsim("run", str(f), "--capture-dir", str(out), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not out.exists()


def test_review_keeps_the_capture_of_a_network_with_a_failure(tmp_path):
    out = tmp_path / "caps"
    res = run_labsim("review", "--topology", str(REPO / "topologies" / "apple-review.yml"),
                     "https://api.example.test/", "--capture-dir", str(out), "--json", str(tmp_path / "r.json"),
                     "--platform", "linux", "--follow", "0", timeout=180)
    assert res.returncode == 1, res.stdout + res.stderr  # NO_AAAA on the ipv6-only network
    nets = {n: row["linux"] for n, row in json.loads((tmp_path / "r.json").read_text())[0]["networks"].items()}
    assert nets["dns64-nat64"]["verdict"] == "PASS" and nets["dns64-nat64"]["captures"] == []
    caps = nets["ipv6-only"]["captures"]
    assert [c["node"] for c in caps] == ["client", "nat64"]
    assert "DNS queries" in caps[0]["summary"] and "SYN to" not in caps[0]["summary"]  # no address: no SYN
    assert sorted(p.name for p in out.rglob("*.pcap")) == ["ipv6-only-client.pcap", "ipv6-only-nat64.pcap"]


SLICED = f"""name: {{name}}
topology: {REPO}/topologies/apple-review.yml
steps:
  - http: {{{{from: client, url: "http://api.example.test/before"}}}}
    expect: {{{{status: 200}}}}
  - name: fails on purpose, after a real exchange through NAT64
    http: {{{{from: client, url: "http://api.example.test/during"}}}}
    expect: {{{{status: 201}}}}
  - http: {{{{from: client, url: "http://api.example.test/after"}}}}
    expect: {{{{status: 200}}}}
"""


def test_a_failed_steps_pcap_holds_that_steps_packets_only(tmp_path, lab_name):
    """One capture runs for the whole scenario; the failed step's pcap is cut from it by time."""
    f = tmp_path / "sliced.yml"
    f.write_text(SLICED.format(name=lab_name))
    out = tmp_path / "caps"
    res = run_labsim("run", str(f), "--capture-dir", str(out), "--json", str(tmp_path / "r.json"), timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    steps = json.loads((tmp_path / "r.json").read_text())[0]["steps"]
    assert [len(s["captures"]) for s in steps] == [0, 2, 0]
    for cap in steps[1]["captures"]:  # client and nat64 both saw the request
        text = subprocess.run(["tcpdump", "-n", "-r", cap["path"]], capture_output=True, text=True,
                              timeout=30).stdout
        assert "GET /during" in text, (cap["node"], text)
        assert "GET /before" not in text and "GET /after" not in text, (cap["node"], text)
    assert "SYN to" in steps[1]["captures"][0]["summary"]
    # no ring or other leftovers: the two pcaps are the only files
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["02-client.pcap", "02-nat64.pcap"]


def test_reports_and_pcaps_belong_to_the_directory_owner(tmp_path, lab_name):
    """In a directory owned by someone else (a user's volume in the runner image, a checkout
    under sudo), the JSON, JUnit and every capture folder and pcap labsim made are theirs."""
    import os

    home = tmp_path / "user"
    home.mkdir()
    os.chown(home, 65534, 65534)
    f = tmp_path / "cap.yml"
    f.write_text(SCENARIO.format(name=lab_name))
    res = run_labsim("run", str(f), "--capture", "failed", "--capture-dir", str(home / "caps"),
                     "--json", str(home / "r.json"), "--junit", str(home / "r.xml"), timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    made = [home / "r.json", home / "r.xml", home / "caps", *(home / "caps").rglob("*")]
    assert len(made) > 4 and any(p.suffix == ".pcap" for p in made)
    assert {(p.name, p.stat().st_uid) for p in made} == {(p.name, 65534) for p in made}
