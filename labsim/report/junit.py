"""JUnit XML: a testsuite per scenario, a testcase per step (CI systems render these)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from labsim.report.inert import xml_safe
from labsim.scenario.runner import ScenarioResult


def to_xml(results: list[ScenarioResult]) -> str:
    root = ET.Element("testsuites", name="labsim")
    for r in results:
        failures = sum(not s.passed for s in r.steps)
        # a lab that never came up is an error (the bring-up testcase), not a failed step
        suite = ET.SubElement(root, "testsuite", name=r.name, tests=str(len(r.steps) + (1 if r.error else 0)),
                              failures=str(failures), errors=str(1 if r.error else 0), time=f"{r.duration_s:.3f}",
                              file=r.file)
        if r.error:
            case = ET.SubElement(suite, "testcase", classname=f"labsim.{r.name}", name="bring-up")
            ET.SubElement(case, "error", message=r.error)
        for s in r.steps:
            case = ET.SubElement(suite, "testcase", classname=f"labsim.{r.name}",
                                 name=f"{s.index + 1:02d} {s.title}", time=f"{s.duration_ms / 1000:.3f}")
            if not s.passed:
                bad = [o for o in s.outcomes if not o.passed]
                msg = ("; ".join(f"{o.what}: expected {o.expected}, got {o.actual}" for o in bad)
                       or (s.error or "failed"))
                fail = ET.SubElement(case, "failure", message=msg[:500])
                reason = s.result.reason.value if s.result and s.result.reason else ""
                fail.text = f"{msg}\nreason: {reason}\ndetail: {s.result.detail if s.result else ''}"
                tool = s.result.facts.tool_error if s.result else None
                if tool is not None:
                    fail.text += f"\n{tool.tool} exit: {tool.returncode}\nstderr:\n{tool.stderr}"
            if s.captures:  # CI systems (Jenkins, GitLab) attach files named this way
                ET.SubElement(case, "system-out").text = "\n".join(
                    [f"capture {c.node}: {c.summary}" for c in s.captures]
                    + [f"[[ATTACHMENT|{c.path}]]" for c in s.captures])
            elif s.did:
                ET.SubElement(case, "system-out").text = s.did
    # names, messages and stderr come from outside: NUL or ESC in them would make the file ill-formed
    xml_safe(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
