"""A NAT64 prefix tayga 0.9.2 cannot serve is refused when the file loads (file:line, exit 2,
nothing created): tayga compares only the first 32 bits with the well-known prefix, so RFC
8215's local-use 64:ff9b:1::/96 with non-global IPv4 failed `up` after `validate` passed."""

from __future__ import annotations

import pytest

from tests.helpers import REPO
from tests.unit.cli_inproc import labsim as run_labsim


@pytest.mark.parametrize("prefix, ok", [("64:ff9b::/96", False), ("64:ff9b:1::/96", False),
                                        ("64:ff9b:1:fffe::/96", False), ("2001:db8:64::/96", True),
                                        ("2001:db8:122::/64", True)])
def test_prefixes_tayga_refuses_are_refused_at_load(tmp_path, prefix, ok):
    text = (REPO / "topologies" / "apple-review.yml").read_text()
    lines = text.splitlines()
    line = next(i for i, s in enumerate(lines) if s.startswith("nat64_prefix:")) + 1
    (tmp_path / "t.yml").write_text(text.replace(lines[line - 1], f"nat64_prefix: {prefix}"))
    res = run_labsim("validate", str(tmp_path / "t.yml"))
    if ok:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == 2 and f"t.yml:{line}: nat64_prefix" in res.stderr, res.stderr
        assert "2001:db8:64::/96" in res.stderr  # what to use instead
