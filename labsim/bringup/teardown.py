"""Take labs down and collect what killed processes left, from state files alone.

Apart from `lab.py` (bring-up), so `labsim down` and `labsim gc` import no kinds, loader,
model or TLS: a `labsim down` spent 0.65 s importing them before it removed anything. The
runtime of each lab comes from `runtime.registry` by the name its state records.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

from labsim.errors import LabNotFoundError, LabsimError, RuntimeOpError
from labsim.runtime import nsutil
from labsim.runtime import registry as runtimes
from labsim.runtime.netns import NETNS_ETC, owns_namespace
from labsim.runtime.state import LabState, valid_lab


def destroy_lab(state: LabState) -> list[str]:
    """Tear down what `state` lists, with its runtime's teardown (from the state file alone)."""
    return runtimes.get(state.runtime).destroy_state(state)


def lab_namespaces(lab: str) -> list[str]:
    """Namespaces on the host that belong to `lab` by name (hub `ls-L`, nodes `ls-L_<node>`)."""
    try:
        names = os.listdir(nsutil.NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if owns_namespace(lab, n))


def down(lab: str) -> list[str]:
    if not valid_lab(lab):  # not a name labsim gives a lab: nothing on the host is one's
        raise LabNotFoundError(f"no lab named {lab!r}; labs: {', '.join(LabState.all_labs()) or 'none'}")
    try:
        state = LabState.load(lab)
    except FileNotFoundError:
        found = [name for name, cls in runtimes.RUNTIMES.items() if lab in cls.orphans()]
        if not found:
            raise LabNotFoundError(f"no lab named {lab!r}; labs: {', '.join(LabState.all_labs()) or 'none'}") from None
        return _destroy_orphan(lab, found)
    except (OSError, ValueError, TypeError):
        # a state file that cannot be read as one (a symlink, not JSON, unknown fields): what
        # is named for the lab goes, as for gc, and its directory
        found = [name for name, cls in runtimes.RUNTIMES.items() if lab in cls.orphans()]
        return _destroy_orphan(lab, found or [runtimes.DEFAULT])
    # belt and braces: anything named for this lab goes too, recorded or not
    state.namespaces += [n for n in lab_namespaces(lab) if n not in state.namespaces]
    return destroy_lab(state)


def _orphan_state(lab: str, runtime: str = runtimes.DEFAULT) -> LabState:
    """A state for what is left of a lab with no (readable) state file: its namespaces and
    their /etc/netns entries, by name."""
    st = LabState(lab=lab, runtime=runtime, status="orphan")
    st.dir.mkdir(parents=True, exist_ok=True)
    st.namespaces = lab_namespaces(lab)
    st.paths = [str(NETNS_ETC / n) for n in st.namespaces]
    st.paths += [str(p) for p in sorted(NETNS_ETC.glob(f"ls-{lab}*"))
                 if owns_namespace(lab, p.name) and str(p) not in st.paths]
    return st


def _destroy_orphan(lab: str, found_by: list[str]) -> list[str]:
    """Every runtime that found something of `lab` removes it (each from a fresh orphan
    state: a teardown removes the state it was given)."""
    removed: list[str] = []
    # the most capable runtime first (docker: containers before the hub they joined)
    for name in sorted(found_by, key=lambda n: -len(runtimes.get(n).capabilities)):
        removed += runtimes.get(name).destroy_state(_orphan_state(lab, name))
    return removed


def gc() -> dict[str, list[str]]:
    """Remove labs whose owner is gone before they were up (a killed `labsim up`), or at any
    time for ephemeral labs (a killed `labsim run` or `review`), and orphans: labs that some
    registered runtime finds things of, with no state. A lab that cannot be removed does not
    stop the others; it is reported (RuntimeOpError) once the rest are gone."""
    removed: dict[str, list[str]] = {}
    failed: dict[str, str] = {}

    def collect(lab: str, teardown: Callable[[], list[str]]) -> None:
        try:
            removed[lab] = teardown()
        except (OSError, LabsimError) as exc:
            failed[lab] = str(exc)

    for lab in LabState.all_labs():
        try:
            state = LabState.load(lab)
            runtimes.get(state.runtime)
        except (OSError, ValueError, TypeError, LabsimError):
            state = _orphan_state(lab)
        if state.owner_alive() or (state.status == "up" and not state.extra.get("ephemeral")):
            continue
        state.namespaces += [n for n in lab_namespaces(lab) if n not in state.namespaces]
        collect(lab, partial(destroy_lab, state))
    known = set(LabState.all_labs())
    found: dict[str, list[str]] = {}
    for name, cls in runtimes.RUNTIMES.items():
        for lab in {lab for lab in cls.orphans() if valid_lab(lab)} - known - set(failed):
            found.setdefault(lab, []).append(name)
    for lab in sorted(found):
        collect(lab, partial(_destroy_orphan, lab, found[lab]))
    if failed:
        done = ", ".join(f"{lab} ({len(items)} objects)" for lab, items in removed.items()) or "nothing"
        raise RuntimeOpError("gc could not remove " + "; ".join(f"lab {lab}: {msg}" for lab, msg in failed.items())
                             + f". Removed: {done}")
    return removed
