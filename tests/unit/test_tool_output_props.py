"""Tier 1, property-based: what labsim parses from its tools (curl's write-out and verbose
log) never raises and never turns unusable output into a result; an http scenario
step that loads always gives curl an argv where the URL, headers and body cannot be read as
options or files."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsim.checks.curl import FIELDS, MARKER, parse_write_out, tried_addresses
from labsim.checks.http import HttpCheck, request_argv
from labsim.scenario.model import HttpParams

from tests.unit.scripted import curl_stdout

text = st.text(st.characters(codec="utf-8"), max_size=120)
PROPS = settings(max_examples=60, deadline=None)


@PROPS
@given(text, st.one_of(st.none(), st.integers(-20, 300)))
def test_any_curl_output_parses_or_is_named_unusable(stdout, returncode):
    wo = parse_write_out(stdout, returncode)
    if not wo.problem:  # usable: the marker, every field, agreeing exit codes, JSON headers
        assert MARKER in stdout and all(f in wo.fields for f in FIELDS)
        assert wo.exitcode == returncode


@PROPS
@given(st.integers(0, 255), st.integers(0, 255), text, st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3))
def test_a_write_out_curl_would_print_parses(exitcode, rc, body, headers):
    wo = parse_write_out(curl_stdout(exitcode=exitcode, body=body, headers=headers), rc)
    if rc == exitcode:
        assert not wo.problem and wo.body == body and wo.exitcode == exitcode
        assert wo.headers == {k.lower(): v for k, v in headers.items()} or len({k.lower() for k in headers}) < len(headers)
    else:
        assert "exited with" in wo.problem


@PROPS
@given(st.lists(st.one_of(st.ip_addresses(), text), max_size=5), st.booleans())
def test_tried_lists_only_whole_addresses(items, bracket):
    log = "".join(f"*   Trying {('[' + str(a) + ']') if bracket and ':' in str(a) else a}:443...\n" for a in items)
    got = tried_addresses(log)
    assert all(ipaddress.ip_address(a) for a in got)
    for a in items:
        if isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and (bracket or a.version == 4):
            assert str(a) in got


@PROPS
@given(url=text, method=st.text(max_size=12), headers=st.dictionaries(text, text, max_size=2),
       cookies=st.dictionaries(text, text, max_size=2), data=st.one_of(st.none(), text))
def test_a_loaded_http_spec_never_gives_curl_an_option_or_a_file(url, method, headers, cookies, data):
    raw = {"from": "c", "url": "http://a.test/" + url, "method": method or "GET", "headers": headers,
           "cookies": cookies, "data": data}
    try:  # loaded as a scenario step is: the check's model, then the types of what reaches curl
        spec = HttpCheck.model_validate(raw)
        HttpParams.model_validate(raw)
    except ValidationError:
        return
    argv = request_argv(spec)
    assert argv[-2:] == ["--url", spec.url]
    for i, a in enumerate(argv):
        if argv[i - 1] == "-H":
            assert not a.startswith("@") and "\n" not in a and "\r" not in a
    if data is not None:  # the body only ever comes from stdin
        assert argv.count("--data-binary") == 1 and argv[argv.index("--data-binary") + 1] == "@-"
    else:
        assert "--data-binary" not in argv
