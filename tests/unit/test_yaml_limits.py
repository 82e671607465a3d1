"""Reading YAML is bounded: regular files under 1 MiB, depth 64, an alias expansion budget,
no control characters. Each limit is an InputError with a line, never a RecursionError, a
memory blow-up or a read without end (no root)."""

from __future__ import annotations

import os
import resource
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labsim.errors import InputError
from labsim.loader import load_lab, load_lab_text
from labsim.model.yamlpos import MAX_BYTES, MAX_DEPTH, load_yaml, parse_yaml


def _laughs(levels: int = 9, fan: int = 10) -> str:
    names = [f"l{i}" for i in range(levels + 1)]
    out = [f"{names[0]}: &{names[0]} [" + ", ".join(["lol"] * fan) + "]"]
    out += [f"{names[i]}: &{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * fan) + "]"
            for i in range(1, levels + 1)]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("text, line, fragment", [
    ("a: " + "[" * 600 + "]" * 600 + "\n", 1, f"nested more than {MAX_DEPTH} levels"),
    ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 3)) + "b: " + "{x: " * 100 + "1" + "}" * 100, 4,
     "nested more than"),
    ("a: &x [1, *x]\n", 1, "an alias refers to a value that contains it"),
    ("a: &x {b: *x}\n", 1, "an alias refers to a value that contains it"),
    ("a: &x {<<: *x}\n", 1, "a merge ('<<') refers to a mapping that contains it"),
    (_laughs(), None, "more than 100000 values once aliases are expanded"),
    ("name: x\nnodes: {}\x00\n", 2, "control character '\\x00'"),
    ("name: x\n\n\x1b[31m: 1\n", 3, "control character '\\x1b'"),
    # past libyaml's own nesting limit (1000), which it hits while scanning, before our count
    ("a: " + "[" * 1200 + "]" * 1200 + "\n", 1, f"nested more than {MAX_DEPTH} levels"),
    ("a: " + "{b: " * 1200 + "1" + "}" * 1200 + "\n", 1, f"nested more than {MAX_DEPTH} levels"),
    ("a: " + "[" * 1200 + "\n", 1, f"nested more than {MAX_DEPTH} levels"),  # and unclosed
    ("name: x\nnodes: !!binary aGVsbG8=\n", 2, "binary value"),
    ("name: x\n!!binary aGVsbG8=: 1\n", 2, "binary key"),
], ids=["deep-flow", "deep-block", "self-alias-seq", "self-alias-map", "self-merge", "billion-laughs",
        "nul", "escape", "deep-flow-past-libyaml", "deep-map-past-libyaml", "deep-unclosed", "binary-value",
        "binary-key"])
def test_hostile_yaml_is_an_input_error_with_a_line(text, line, fragment):
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        load_lab_text(text, filename="h.yml")
    assert time.monotonic() - start < 5
    assert fragment in info.value.message, str(info.value)
    assert info.value.file == "h.yml" and info.value.line is not None
    if line is not None:
        assert info.value.line == line, str(info.value)


def test_billion_laughs_stays_small():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError):
        parse_yaml(_laughs(levels=12), "x.yml")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(InputError) as info:
            load_yaml(path)
        assert "not a regular file" in info.value.message or "cannot read" in info.value.message
    big = tmp_path / "big.yml"
    big.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    with pytest.raises(InputError) as info:
        load_lab(big)
    assert f"larger than {MAX_BYTES} bytes" in info.value.message


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab:-[]{}&*!|>'\"#%@`,?\n \t\x00\x07\x1b\u0085<<"), max_size=80))
def test_any_text_is_data_or_an_input_error(text):
    """Generated YAML-ish text: parsed, or an InputError, never another exception."""
    try:
        load_lab_text(text, filename="g.yml")
    except InputError as exc:
        assert exc.file == "g.yml"


@settings(max_examples=40, deadline=None)
@given(st.integers(MAX_DEPTH + 1, 3000), st.sampled_from(["[", "{a: ", "- ", "[{a: "]), st.booleans(),
       st.sampled_from(["topology", "scenario"]))
@example(1200, "[", True, "topology")  # ended in a RecursionError: libyaml's limit hid our count
@example(1001, "[", True, "scenario")
def test_any_depth_is_an_input_error_with_a_line_in_both_loaders(tmp_path_factory, depth, opener, closed, loader):
    """Deeper than MAX_DEPTH, in flow or block style, closed or not, however far past
    libyaml's own limit: file:line, never a RecursionError."""
    from labsim.scenario.load import load_scenario

    if opener == "- ":
        nested = "".join("  " * i + "- \n" for i in range(min(depth, 400))) + "  " * min(depth, 400) + "x\n"
    else:
        close = {"[": "]", "{a: ": "}", "[{a: ": "}]"}[opener]
        nested = opener * depth + "1" + (close * depth if closed else "") + "\n"
    f = tmp_path_factory.mktemp("deep") / "d.yml"
    if loader == "topology":
        f.write_text("name: x\nnetworks:\n" + nested if opener == "- " else "name: x\nnetworks: " + nested)
        run = load_lab
    else:
        f.write_text("name: x\ntopology: t.yml\nsteps:\n" + nested if opener == "- " else
                     "name: x\ntopology: t.yml\nsteps: " + nested)
        run = load_scenario
    with pytest.raises(InputError) as info:
        run(f)
    assert info.value.file == str(f) and info.value.line is not None, str(info.value)
    if closed or opener == "- ":
        assert "nested more than" in info.value.message, str(info.value)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["name", "networks", "nodes", "description", "nat64_prefix"]),
       st.sampled_from(["!!binary aGVsbG8=", "!!binary /w==", "[!!binary MTA=]", "{a: !!binary MTA=}",
                        "!!binary |\n  aGVsbG8="]))
def test_a_binary_value_anywhere_is_an_input_error_with_a_line(field, value):
    text = "name: x\nnetworks: {lan: {ipv6: 2001:db8::/64}}\nnodes: {c: {kind: client, links: [lan]}}\n"
    text = "\n".join(f"{field}: {value}" if line.startswith(field + ":") else line for line in text.splitlines())
    if f"{field}:" not in text:
        text += f"\n{field}: {value}\n"
    with pytest.raises(InputError) as info:
        load_lab_text(text, filename="b.yml")
    assert info.value.line is not None and "binary" in info.value.message, str(info.value)
