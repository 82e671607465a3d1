"""Tier 1: scenario files are data. Every field that reaches curl's argv, a DNS query, a zone
file or an nft rule is typed at load time; files a scenario names are regular, capped and
UTF-8; a host file is read only through `data_file:` relative to the scenario's folder; every
error of a file is reported at once as file:line: field: message (exit 2, nothing created)."""

from __future__ import annotations

import os
import time

import pytest

from labsim.errors import InputError, InputErrors
from labsim.inputerrors import MAX_ERRORS
from labsim.scenario.load import load_scenario


def cli(*args: str):
    """`labsim ARGS` in this process (a subprocess per case costs a second of imports)."""
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


TOPO = """topology:
  networks: {lan: {ipv6: "2001:db8:7::/64", ipv4: 192.0.2.0/24}}
  nodes:
    client: {kind: client, links: [lan]}
    web: {kind: backend, links: [lan], names: [www.example.test]}
    ns: {kind: authdns, links: [lan], zones: {example.test: {}}}
"""


def scenario(tmp_path, steps: str, head: str = "name: t\n" + TOPO, name: str = "s.yml"):
    f = tmp_path / name
    f.write_text(head + "steps:\n" + steps)
    return f


def error_of(f) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(f)
    return info.value


@pytest.mark.parametrize("step, field, fragment", [
    # curl reads a leading '-' as an option (-K reads a config file, -o writes one)
    ('{from: client, url: "-K/etc/passwd"}', "url", "read this as an option"),
    ('{from: client, url: "--output=/tmp/x"}', "url", "read this as an option"),
    ('{from: client, url: "ftp://www.example.test/"}', "url", "only http:// and https://"),
    ('{from: client, url: "file:///etc/passwd"}', "url", "only http:// and https://"),
    ('{from: client, url: "http://www.example.test/ x"}', "url", "no whitespace"),
    ('{from: client, url: "http://[fe80::1%25eth0]/"}', "url", "scope id"),
    ('{from: client, url: "http://a b/"}', "url", "whitespace"),
    ('{from: client, url: "http:///path"}', "url", "needs a host"),
    ('{from: client, url: "http://www.example.test/[1-1000000]"}', "url", "URL glob"),
    ('{from: client, url: "http://{a,b}.example.test/"}', "url", "URL glob"),
    # curl's --data-binary @FILE sends a host file
    ('{from: client, url: "http://www.example.test/", data: "@/etc/hostname"}', "data", "data_file"),
    ('{from: client, url: "http://www.example.test/", headers: {"X-A": "a\\r\\nInjected: 1"}}',
     "headers.X-A", "CR, LF"),
    ('{from: client, url: "http://www.example.test/", headers: {"X A": "b"}}', "headers", "token"),
    ('{from: client, url: "http://www.example.test/", method: "GET /x HTTP/1.1\\r\\n"}', "method", "token"),
    ('{from: client, url: "http://www.example.test/", method: "GET\\n"}', "method", "token"),  # '$' matches before \n
    ('{from: client, url: "http://www.example.test/", headers: {"X-A\\n": "b"}}', "headers", "token"),
    ('{from: client, url: "http://www.example.test/", cookies: {a: "b; c=d"}}', "cookies.a", "cookie value"),
    ('{from: client, url: "http://www.example.test/", connect_to: ["-K/x"]}', "connect_to", "HOST1:PORT1"),
])
def test_http_fields_that_reach_curl_are_typed(tmp_path, step, field, fragment):
    f = scenario(tmp_path, f"  - http: {step}\n")
    e = error_of(f)
    assert e.file == str(f) and e.line == 9, e
    assert e.field.startswith(f"steps[0].http.{field}") and fragment in e.message, e


@pytest.mark.parametrize("step, fragment", [
    ('dns: {from: client, name: "a..example.test"}', "DNS name"),
    ('dns: {from: client, name: "x.example.test\\n$INCLUDE /etc/shadow"}', "DNS name"),
    ('dns: {from: client, name: "www.example.test\\n"}', "DNS name"),
    ('dns: {from: client, name: www.example.test, type: "AAAA\\nx"}', "record type"),
    ('dns: {from: client, name: www.example.test, server: "fe80::1%lo"}', "scope id"),
    ('tcp: {from: client, host: "-x", port: 80}', "neither a node"),
    ('tcp: {from: client, host: web, port: 70000}', "less than or equal to 65535"),
    ('tls: {from: client, host: web, servername: "a b"}', "DNS name"),
    ('set_record: {name: "www.example.test", type: TXT, values: ["a\\n$INCLUDE /etc/shadow"]}', "TXT data"),
    ('set_record: {name: "www.example.test", type: TXT, values: ["a\\x01b"]}', "TXT data"),
    ('set_record: {name: "www.example.test", type: A, values: ["2001:db8::1"]}', "not an IPv4"),
    ('set_record: {name: "www.example.test", type: AAAA, values: ["2001:db8::1%x"]}', "scope id"),
    ('set_record: {name: "www.example.test", type: CNAME, values: ["x y"]}', "DNS name"),
    ('set_record: {name: "www.example.test", type: TXT, weights: {a: 1}}', "for A and AAAA records only"),
    ('set_record: {name: "../../tmp/x", values: ["192.0.2.9"]}', "DNS name"),
    ('set_record: {name: "www.example.test", values: [nosuchnode]}', "neither an IPv4 address nor a node"),
    ('drop: {node: web, to: "2001:db8::1%eth0"}', "scope id"),
    ('drop: {node: web, to: "client; flush ruleset"}', "not an address or prefix"),
    ('drop: {node: web, from: client, port: 80}', "needs proto"),
    ('drop: {node: web}', "give 'to' or 'from'"),
    ('move_address: {node: web, network: lan, to: "2001:db8:7::99%x"}', "scope id"),
    ('stop: {node: web, service: "nginx; reboot"}', "service name"),
])
def test_other_step_fields_are_typed(tmp_path, step, fragment):
    e = error_of(scenario(tmp_path, f"  - {step}\n"))
    assert e.line == 9 and fragment in str(e), e


def test_a_step_name_is_one_line(tmp_path):
    e = error_of(scenario(tmp_path, '  - name: "a\\nb"\n    dns: {from: client, name: www.example.test}\n'))
    assert e.field == "steps[0].name" and e.line == 9


def test_data_is_sent_literally_from_data_file_relative_to_the_scenario(tmp_path):
    (tmp_path / "bodies").mkdir()
    (tmp_path / "bodies" / "login.json").write_text('{"user": "x"}')
    f = scenario(tmp_path, '  - http: {from: client, url: "http://www.example.test/", method: POST, '
                           'data_file: bodies/login.json}\n')
    assert load_scenario(f).scenario.steps[0].spec.data == '{"user": "x"}'


@pytest.mark.parametrize("name, fragment", [
    ("/etc/hostname", "relative path"), ("../outside.txt", "'..'"), ("~/x", "relative path"),
    ("link/hostname", "outside the scenario's folder"), ("fifo", "not a regular file"),
    ("big.bin", "larger than"), ("latin1.txt", "not UTF-8"), ("missing.txt", "cannot read"),
    ("at.txt", "data_file"),
])
def test_data_file_refuses_what_is_not_a_small_file_of_the_scenario(tmp_path, name, fragment):
    (tmp_path / "outside.txt").write_text("secret")
    d = tmp_path / "sc"
    d.mkdir()
    (d / "link").symlink_to("/etc")
    os.mkfifo(d / "fifo")
    (d / "big.bin").write_text("x" * (64 * 1024 + 1))
    (d / "latin1.txt").write_bytes(b"caf\xe9")
    (d / "at.txt").write_text("@/etc/hostname")  # the file's text is a body too: no '@FILE'
    f = scenario(d, f'  - http: {{from: client, url: "http://www.example.test/", data_file: "{name}"}}\n')
    t0 = time.monotonic()
    e = error_of(f)
    assert time.monotonic() - t0 < 5  # a FIFO is not opened for a blocking read
    assert e.file == str(f) and e.line == 9 and fragment in str(e), e


def test_data_and_data_file_together_are_refused(tmp_path):
    (tmp_path / "b.txt").write_text("x")
    e = error_of(scenario(tmp_path, '  - http: {from: client, url: "http://www.example.test/", '
                                    'data: y, data_file: b.txt}\n'))
    assert "not both" in str(e)


@pytest.mark.parametrize("target, fragment", [
    ("/dev/zero", "not a regular file"), ("/etc", "not a regular file"), ("fifo.yml", "not a regular file"),
    ("big.yml", "larger than"), ("latin1.yml", "not UTF-8"), ("nope.yml", "cannot read file"),
])
def test_a_topology_file_must_be_a_small_regular_utf8_file(tmp_path, target, fragment):
    os.mkfifo(tmp_path / "fifo.yml")
    (tmp_path / "big.yml").write_text("#" * (1 << 20) + "\n")
    (tmp_path / "latin1.yml").write_bytes(b"name: caf\xe9\n")
    f = scenario(tmp_path, "  - dns: {from: client, name: www.example.test}\n", head=f"name: t\ntopology: {target}\n")
    t0 = time.monotonic()
    e = error_of(f)
    assert time.monotonic() - t0 < 5
    assert e.file == str(f) and e.line == 2 and e.field == "topology" and fragment in e.message, e


def test_topology_dev_zero_exits_2_at_once_from_run_and_validate(tmp_path):
    f = scenario(tmp_path, "  - dns: {from: client, name: www.example.test}\n", head="name: t\ntopology: /dev/zero\n")
    for cmd in ("validate", "run"):
        res = cli(cmd, str(f))
        assert res.exit_code == 2 and f"{f}:2: topology:" in res.stderr, res.stderr


def test_the_scenario_file_itself_must_be_regular(tmp_path):
    res = cli("validate", "/dev/zero")
    assert res.exit_code == 2 and "not a regular file" in res.stderr


def test_every_error_of_a_file_is_reported_at_once(tmp_path):
    f = scenario(tmp_path, '  - http: {from: client, url: "-K/etc/passwd"}\n'
                           '  - dns: {from: nobody, name: www.example.test}\n'
                           '  - drop: {node: web, to: "fe80::1%x"}\n',
                 head="name: BAD NAME\n" + TOPO)
    e = error_of(f)
    assert isinstance(e, InputErrors)
    lines = str(e).splitlines()
    assert [x.split(": ")[0] for x in lines] == [f"{f}:1", f"{f}:9", f"{f}:10", f"{f}:11"], lines
    res = cli("validate", str(f))
    assert res.exit_code == 2 and all(x in res.stderr for x in (f"{f}:9: steps[0].http.url",
                                                                  f"{f}:10: steps[1]", f"{f}:11: steps[2].drop.to"))


def test_errors_are_capped(tmp_path):
    f = scenario(tmp_path, "".join(f'  - http: {{from: client, url: "-{i}"}}\n' for i in range(30)))
    e = error_of(f)
    assert len(e.errors) == MAX_ERRORS and e.more == 10 and str(e).endswith("... and 10 more errors")


def test_the_shipped_scenarios_still_load():
    from tests.helpers import REPO

    for f in sorted((REPO / "scenarios").glob("*.yml")):
        load_scenario(f)


def test_run_reports_the_errors_of_every_file_before_any_lab(tmp_path):
    a = scenario(tmp_path, '  - http: {from: client, url: "-K/etc/passwd"}\n', name="a.yml")
    b = scenario(tmp_path, '  - dns: {from: client, name: "a..b"}\n', name="b.yml")
    res = cli("run", str(a), str(b))
    assert res.exit_code == 2
    assert f"{a}:9: steps[0].http.url" in res.stderr and f"{b}:9: steps[0].dns.name" in res.stderr


def test_set_pref64_refuses_a_scope_id(tmp_path):
    e = error_of(scenario(tmp_path, '  - set_pref64: {node: web, prefix: "64:ff9b::%x/96"}\n'))
    assert e.line == 9 and "scope id" in str(e), e
