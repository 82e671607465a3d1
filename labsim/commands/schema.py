"""The JSON schema of labsim's reports, generated from the result types themselves.

    run --json              a list of scenario results (RunReport)
    review --json           a list of endpoints with a verdict per network (ReviewReport)
    bench resolvers --json  a comparison's variants with statistics (BenchReport)

The schema ships as labsim/schema/results.schema.json (a test keeps it equal to what this
module generates). Regenerate after changing a result type:

    python -m labsim.commands.schema > labsim/schema/results.schema.json
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pydantic import TypeAdapter

from labsim.checks.reasons import Reason
from labsim.report.compare import BenchReport
from labsim.review.run import EndpointReport
from labsim.scenario.runner import ScenarioResult

SCHEMA_ID = "https://labsim.invalid/schema/results.schema.json"
REPORTS: dict[str, Any] = {
    "RunReport": list[ScenarioResult],
    "ReviewReport": list[EndpointReport],
    "BenchReport": BenchReport,
}


def generate() -> dict:
    """One schema: any of the three reports, each under $defs by name."""
    keys, top = TypeAdapter.json_schemas(
        [(name, "serialization", TypeAdapter(tp)) for name, tp in REPORTS.items()],
        ref_template="#/$defs/{model}")
    defs = dict(top.get("$defs", {}))
    for (name, _), schema in keys.items():
        if schema.get("$ref") != f"#/$defs/{name}":  # a dataclass is its own definition already
            defs[name] = {**schema, "title": name}
    for schema in defs.values():
        if "properties" in schema:
            # reports always write every field, and only those: say so, so drift is caught
            schema["required"] = list(schema["properties"])
            schema["additionalProperties"] = False
    defs["Reason"]["description"] = "What a user does about each reason code: " + "; ".join(
        f"{r.value}: {r.hint}" for r in Reason)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "labsim results",
            "description": "What `labsim run --json`, `labsim review --json` and "
                           "`labsim bench resolvers --json` write.",
            "anyOf": [{"$ref": f"#/$defs/{name}"} for name in REPORTS],
            "$defs": dict(sorted(defs.items()))}


def text() -> str:
    return json.dumps(generate(), indent=1, sort_keys=False) + "\n"


def shipped() -> dict:
    """The schema as installed with the package."""
    return json.loads(resources.files("labsim").joinpath("schema/results.schema.json").read_text())


if __name__ == "__main__":
    print(text(), end="")
