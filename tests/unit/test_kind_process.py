"""`kind: process` without root: its schema (typed at load time, errors at file:line), what
it renders, the argv it runs (setpriv/env wrappers, `{dir}`, no shell), its probes - and
the wrapper itself run for real (as the current user) in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import ip_address

import pytest
from hypothesis import assume, given, settings, strategies as st
from pydantic import ValidationError

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext, TcpProbe
from labsim.kinds.process import Schema, service_name
from labsim.loader import LoadedLab, load_lab_text

LAB = """\
name: proc
networks:
  ds: {ipv6: "2001:db8:1::/64", ipv4: 192.0.2.0/24}
  v6: {ipv6: "2001:db8:2::/64"}
nodes:
  app:
    kind: process
    links: [%s]
%s"""


def lab(body: str, links: str = "ds") -> LoadedLab:
    return load_lab_text(LAB % (links, body), filename="lab.yml")


def ctx(loaded: LoadedLab, node: str = "app", dir: str = "/run/labsim/proc/nodes/app") -> NodeContext:
    plan = loaded.plan
    return NodeContext(plan, plan.nodes[node], loaded.topology.nodes[node], dir=dir, python="python3")


KIND = registry.get("process")
PG = """\
    user: postgres
    env: {PGTZ: UTC, DATA: "{dir}/work/pgdata"}
    setup: [[initdb, "--pgdata={dir}/work/pgdata", --auth=trust]]
    command: [/usr/lib/postgresql/15/bin/postgres, -D, "{dir}/work/pgdata", -c, "listen_addresses=0.0.0.0"]
    ports: [5432]
    files: {pg_hba.conf: "host all all ::/0 trust\\n"}
"""


def test_argv_drops_to_the_user_in_its_workdir_with_its_env():
    c = ctx(lab(PG))
    (svc,) = KIND.services(c)
    assert svc.name == "postgres" and not svc.host
    assert svc.argv == [
        "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env", "--",
        "env", "--chdir=/run/labsim/proc/nodes/app/work", "--",
        "PGTZ=UTC", "DATA=/run/labsim/proc/nodes/app/work/pgdata",
        "/usr/lib/postgresql/15/bin/postgres", "-D", "/run/labsim/proc/nodes/app/work/pgdata",
        "-c", "listen_addresses=0.0.0.0"]


def test_setup_makes_the_users_workdir_then_runs_wrapped_like_the_program():
    c = ctx(lab(PG))
    mkdir, initdb = KIND.setup(c)
    assert mkdir == ["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0750",
                     "/run/labsim/proc/nodes/app/work"]
    assert initdb[:6] == ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                          "--reset-env", "--"]
    assert initdb[-3:] == ["initdb", "--pgdata=/run/labsim/proc/nodes/app/work/pgdata", "--auth=trust"]


def test_without_user_no_setpriv_and_an_absolute_workdir_is_not_created():
    c = ctx(lab("    command: [my-api, --port, '8080']\n    workdir: /srv/api\n"))
    (svc,) = KIND.services(c)
    assert svc.argv == ["env", "--chdir=/srv/api", "--", "my-api", "--port", "8080"]
    assert svc.name == "my-api"
    assert KIND.setup(c) == []


def test_relative_workdir_lies_under_the_node_dir_and_group_is_explicit():
    c = ctx(lab("    command: [srv]\n    workdir: data/run\n    user: nobody\n    group: nogroup\n"))
    assert KIND.setup(c)[0] == ["install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0750",
                                "/run/labsim/proc/nodes/app/data/run"]
    assert "--regid=nogroup" in KIND.services(c)[0].argv


def test_render_writes_its_files_into_the_node_dir_and_the_lab_etc_files():
    files = KIND.render(ctx(lab(PG)))
    assert files["pg_hba.conf"] == "host all all ::/0 trust\n"
    assert {"/etc/hosts", "/etc/resolv.conf", "pg_hba.conf"} <= set(files)


def test_dir_is_replaced_in_the_files_expand_dir_names_and_nowhere_else():
    c = ctx(lab('    command: [srv]\n    expand_dir: [app.conf]\n'
                '    files: {app.conf: "pid {dir}/app.pid\\n", run.sh: "echo ${dir} {dir}\\n"}\n'))
    files = KIND.render(c)
    assert files["app.conf"] == "pid /run/labsim/proc/nodes/app/app.pid\n"
    assert files["run.sh"] == "echo ${dir} {dir}\n"  # a script's own text, byte for byte


def test_probes_every_address_a_bind_can_cover_so_neither_family_is_masked():
    """0.0.0.0, `::` (V6ONLY or not), one of the node's addresses, loopback: each bind is
    accepted on at least one of the probed addresses."""
    c = ctx(lab(PG))
    v4, v6 = c.node.addresses(4)[0], c.node.addresses(6)[0]
    loop = (ip_address("127.0.0.1"), ip_address("::1"))
    assert KIND.probes(c) == [TcpProbe(v4, 5432, (v6, *loop))]
    (probe,) = KIND.probes(ctx(lab(PG, links="v6")))  # an IPv6-only node: 0.0.0.0 still on 127.0.0.1
    assert probe.address.version == 6 and probe.also == loop and probe.port == 5432
    (probe,) = KIND.probes(ctx(lab(PG, links="ds, v6")))  # both links' addresses, IPv4 first
    assert [a.version for a in (probe.address, *probe.also)] == [4, 6, 6, 4, 6]


def test_needs_the_wrappers_and_the_programs_but_not_ones_made_in_the_lab():
    spec = lab(PG + "    packages: [postgresql]\n").topology.nodes["app"]
    binaries, packages = KIND.needs(spec)
    assert {"setpriv", "env", "/usr/lib/postgresql/15/bin/postgres", "initdb"} <= set(binaries)
    assert "postgresql" in packages
    spec = lab("    command: ['{dir}/my-build']\n").topology.nodes["app"]
    assert KIND.needs(spec)[0] == ("env",)


def test_service_name_is_the_program_name_when_stop_and_start_accept_it():
    assert service_name(Schema(kind="process", links=["ds"], command=["/usr/bin/python3", "x"])) == "python3"
    assert service_name(Schema(kind="process", links=["ds"], command=["./My App.bin"])) == "process"


@pytest.mark.parametrize("body, field, fragment", [
    ("    command: []\n", "nodes.app.command", "at least 1"),
    ("    command: ['FOO=1', x]\n", "nodes.app.command", "no '='"),
    ("    command: [\"a\\nb\"]\n", "nodes.app.command", "control characters"),
    ("    command: [x]\n    env: {'1BAD': x}\n", "nodes.app.env", ""),
    ("    command: [x]\n    user: 'Root!'\n", "nodes.app.user", ""),
    ("    command: [x]\n    ports: [70000]\n", "nodes.app.ports", "65535"),
    ("    command: [x]\n    workdir: ../etc\n", "nodes.app.workdir", "directory path"),
    ("    command: [x]\n    files: {../passwd: x}\n", "nodes.app.files", "plain file name"),
    ("    command: [x]\n    setup: [['A=b']]\n", "nodes.app.setup", "no '='"),
    ("    command: [x]\n    packages: ['Bad_Pkg']\n", "nodes.app.packages", ""),
    ("    command: [x]\n    shell: 'rm -rf /'\n", "nodes.app.shell", ""),
    ("    command: [x]\n    group: www-data\n", "nodes.app.group", "only together with `user`"),
    ("    command: [x]\n    files: {a.conf: x}\n    expand_dir: [b.conf]\n", "nodes.app.expand_dir",
     "'b.conf': not among this node's `files`"),
])
def test_bad_input_is_an_input_error_at_its_line(body, field, fragment):
    with pytest.raises(InputError) as info:
        lab(body)
    err = info.value
    assert err.file == "lab.yml" and err.line is not None and err.line >= 7, str(err)
    assert (err.field or "").startswith(field), str(err)
    assert fragment in str(err)


# any argv word the schema accepts reaches the program as exactly that word (no shell)
PRINT = "import json, os, sys; print(json.dumps([os.getcwd(), os.environ['V'], sys.argv[1:]]))"
WORD = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)


@settings(max_examples=25, deadline=None)
@given(words=st.lists(WORD, max_size=6), value=WORD)
def test_words_and_env_values_reach_the_program_unchanged(tmp_path_factory, words, value):
    work = tmp_path_factory.mktemp("node")
    try:
        spec = Schema(kind="process", links=["ds"], command=[sys.executable, "-c", PRINT, *words],
                      env={"V": value}, workdir=str(work))
    except ValidationError:  # a word the schema refuses (line separators): never runs
        assume(False)
    c = NodeContext(None, None, spec, dir=str(work))  # wrap() reads the spec and dir only
    (svc,) = KIND.services(c)
    out = subprocess.run(svc.argv, capture_output=True, text=True, timeout=20, check=True).stdout
    assert json.loads(out) == [str(work), value.replace("{dir}", str(work)),
                               [w.replace("{dir}", str(work)) for w in words]]


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("ab.-_/\\{}"), max_size=20))
def test_a_relative_workdir_never_leaves_the_node_dir(text):
    """Whatever the loader accepts as a relative workdir stays under the node's directory."""
    import posixpath

    from labsim.model.types import dir_path

    try:
        path = dir_path(text)
    except ValueError:
        return
    if not path.startswith("/"):
        joined = posixpath.normpath(posixpath.join("/node", path))
        assert joined == "/node" or joined.startswith("/node/"), path
    assert ".." not in path.split("/")
