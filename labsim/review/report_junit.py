"""The review as JUnit XML: a testsuite per network, a testcase per endpoint x platform, so
there is exactly one testcase per matrix cell. FAIL is a failure; WARN passes with its
reason in system-out (CI gates on FAIL, as the exit status does)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from labsim.report.inert import xml_safe
from labsim.review.run import EndpointReview


def to_junit(reviews: list[EndpointReview], networks: tuple[str, ...]) -> str:
    root = ET.Element("testsuites", name="labsim review")
    for net in networks:
        cells = [(r, v) for r in reviews for v in (r.verdicts.get(net) or {}).values()]
        fails = sum(v.verdict == "FAIL" for _, v in cells)
        suite = ET.SubElement(root, "testsuite", name=f"review {net}", tests=str(len(cells)),
                              failures=str(fails), errors="0",
                              # a run shared by several platforms counts once
                              time=f"{sum(v.ms for _, v in cells if not v.shared_with) / 1000:.3f}")
        for r, v in cells:
            name = r.endpoint.url if r.endpoint.method == "GET" else f"{r.endpoint.method} {r.endpoint.url}"
            case = ET.SubElement(suite, "testcase", classname=f"review.{net}.{v.platform}",
                                 name=f"{name} [{v.platform}]", time=f"{v.ms / 1000:.3f}")
            reason = v.reason.value if v.reason else ""
            text = f"verdict: {v.verdict}\nreason: {reason}\nhint: {v.hint or ''}\n" \
                   f"via: {v.via}\ndetail: {v.result.detail}"
            if r.endpoint.found_in:
                text += f"\nfound in: {r.endpoint.found_in}"
            if v.verdict == "FAIL":
                ET.SubElement(case, "failure", message=f"{reason}: {v.result.detail}"[:500], type=reason).text = text
            else:
                ET.SubElement(case, "system-out").text = text
    # names, messages and stderr come from outside: NUL or ESC in them would make the file ill-formed
    xml_safe(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
