"""Tier 1: what `labsim review` reads (URLs, URL files, HAR captures, --resolve) and how a
check result becomes a verdict. No root, no lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsim.errors import InputError
from labsim.review.inputs import Endpoint, endpoints_from, parse_resolve


def cli(*args: str):
    """`labsim ARGS` in this process (a subprocess per case costs a second of imports)."""
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def test_urls_file_with_methods_and_comments(tmp_path):
    f = tmp_path / "urls.txt"
    f.write_text("# the app's endpoints\nhttps://api.example.com/v1/  # main\nHEAD http://cdn.example.com/x\n\n")
    assert endpoints_from(["http://a.test/"], f, None) == [
        Endpoint("http://a.test/"), Endpoint("https://api.example.com/v1/"), Endpoint("http://cdn.example.com/x", "HEAD")]


def test_har_requests_once_each_and_unsafe_methods_become_options(tmp_path):
    har = tmp_path / "app.har"
    entries = [{"request": {"method": m, "url": u}} for m, u in (
        ("GET", "https://api.example.com/feed"), ("POST", "https://api.example.com/login"),
        ("GET", "https://api.example.com/feed"), ("DELETE", "https://api.example.com/item/1"))]
    har.write_text(json.dumps({"log": {"entries": entries}}))
    assert endpoints_from([], None, har) == [
        Endpoint("https://api.example.com/feed"), Endpoint("https://api.example.com/login", "OPTIONS"),
        Endpoint("https://api.example.com/item/1", "OPTIONS")]


@pytest.mark.parametrize("text, fragment", [
    ("{}", "not a HAR file"), ("not json", "not a HAR file")])
def test_a_bad_har_is_an_input_error(tmp_path, text, fragment):
    har = tmp_path / "bad.har"
    har.write_text(text)
    with pytest.raises(InputError, match=fragment):
        endpoints_from([], None, har)


def test_non_http_urls_and_bad_lines_are_refused(tmp_path):
    with pytest.raises(InputError, match="only http://, https://"):
        endpoints_from(["ftp://x.test/"], None, None)
    f = tmp_path / "u.txt"
    f.write_text("http://ok.test/\njust-words\n")
    with pytest.raises(InputError) as info:
        endpoints_from([], f, None)
    assert info.value.line == 2


def test_resolve_pairs():
    assert parse_resolve(["API.Local.Test.=10.0.2.2", "v6.local.test=fd00::2"]) == {
        "api.local.test": "10.0.2.2", "v6.local.test": "fd00::2"}
    for bad in ("api.local.test", "api.local.test=not-an-ip", "=10.0.2.2", "nodots=10.0.2.2"):
        with pytest.raises(InputError, match="NAME=ADDRESS"):
            parse_resolve([bad])


# -- strict inputs: the file and the entry, never a traceback --------------------------------
def har_file(tmp_path, entries) -> Path:
    har = tmp_path / "app.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    return har


@pytest.mark.parametrize("entry, field, fragment", [
    ({"request": {"method": "GET"}}, "log.entries[1].request", "no 'url'"),
    ({"request": {"url": "ftp://x.test/"}}, "log.entries[1].request.url", "only http://, https://, ws://"),
    ({"request": {"url": "-K/etc/passwd"}}, "log.entries[1].request.url", "as an option"),
    ({"request": {"url": 5}}, "log.entries[1].request.url", "expected a string"),
    ({"request": {"url": "http://x.test/", "method": "GET\r\nX: y"}}, "log.entries[1].request.method", "token"),
    ({"response": {}}, "log.entries[1]", "'request'"),
    ("just a string", "log.entries[1]", "'request'"),
])
def test_a_bad_har_entry_names_the_file_and_the_entry(tmp_path, entry, field, fragment):
    har = har_file(tmp_path, [{"request": {"url": "http://ok.test/"}}, entry])
    with pytest.raises(InputError) as info:
        endpoints_from([], None, har)
    assert info.value.file == str(har) and info.value.field == field and fragment in info.value.message


@pytest.mark.parametrize("text, fragment", [
    ("[]", "log.entries"), ('{"log": []}', "log.entries"), ('{"log": {"entries": {}}}', "log.entries"),
    ("[" * 100000, "not a HAR file"), ('{"log": {"entries": [}}', "invalid JSON"),
])
def test_a_malformed_har_is_an_input_error(tmp_path, text, fragment):
    har = tmp_path / "bad.har"
    har.write_text(text)
    with pytest.raises(InputError) as info:
        endpoints_from([], None, har)
    assert info.value.file == str(har) and fragment in str(info.value)


def test_a_non_utf8_url_file_names_the_line(tmp_path):
    f = tmp_path / "urls.txt"
    f.write_bytes(b"http://ok.test/\nhttp://caf\xe9.test/\n")
    with pytest.raises(InputError) as info:
        endpoints_from([], f, None)
    assert info.value.file == str(f) and info.value.line == 2 and "not UTF-8" in info.value.message


@pytest.mark.parametrize("line, fragment", [
    ("-K/etc/passwd", "as an option"), ("GET http://x.test/ extra", "'METHOD URL'"),
    ("G\x01T http://x.test/", "token"), ("http://x\x7f.test/", "control"),
])
def test_url_file_lines_are_checked(tmp_path, line, fragment):
    f = tmp_path / "urls.txt"
    f.write_text("http://ok.test/\n" + line + "\n")
    with pytest.raises(InputError) as info:
        endpoints_from([], f, None)
    assert info.value.line == 2 and fragment in str(info.value)


@pytest.mark.parametrize("path", ["/dev/zero", "/etc"])
def test_url_and_har_files_must_be_regular(path):
    for args in (([], Path(path), None), ([], None, Path(path))):
        with pytest.raises(InputError, match="not a regular file"):
            endpoints_from(*args)


@pytest.mark.parametrize("bad", ["api.test=fe80::1%eth0", "a b.test=10.0.2.2", "api.test\n=10.0.2.2",
                                 "-x.test=10.0.2.2", "api.test=", "api..test=10.0.2.2"])
def test_resolve_refuses_bad_names_and_scoped_addresses(bad):
    with pytest.raises(InputError, match="NAME=ADDRESS"):
        parse_resolve([bad])


def test_review_cli_exits_2_on_a_har_without_url(tmp_path):
    har = har_file(tmp_path, [{"request": {"method": "GET"}}])
    res = cli("review", "--har", str(har))
    assert res.exit_code == 2 and f"{har}: log.entries[0].request: the request has no 'url'" in res.stderr
    assert "Traceback" not in res.stderr
