"""labsim's errors cross process boundaries (`labsim run -j N` workers) intact: the same
class, message, fields and exit code, so the parent reports what failed."""

from __future__ import annotations

import pickle

import pytest

from labsim import errors


@pytest.mark.parametrize("exc", [
    errors.ReadinessError("dns64", "DNS A ipv4only.arpa. at 2001:db8:1::3", 15.0, "unbound: fatal\n"),
    errors.InputError("expected a port", file="lab.yml", line=7, field="nodes.api.tcp_port"),
    errors.InputErrors([errors.InputError("a", file="f.yml", line=1), errors.InputError("b", file="f.yml", line=2)], more=3),
    errors.RuntimeOpError("veth: File exists"),
    errors.LabExistsError("a lab named 'x' exists already"),
    errors.LabNotFoundError("no lab named 'x'"),
    errors.EnvironmentMissingError("tayga is not installed"),
])
def test_errors_survive_pickling(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.exit_code == exc.exit_code
    assert back.__dict__.keys() == exc.__dict__.keys()
    if isinstance(exc, errors.ReadinessError):
        assert (back.node, back.what, back.deadline_s, back.log_tail) == (exc.node, exc.what, exc.deadline_s, exc.log_tail)
    if isinstance(exc, errors.InputErrors):
        assert back.render() == exc.render() and len(back.errors) == 2
