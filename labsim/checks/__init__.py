"""Checks run from inside a node. Each is `run_X(spec, env) -> XResult`; none prints, none
raises for a failed operation or a broken tool (those are results: see result.py)."""

from __future__ import annotations

import importlib

from labsim.checks.base import CheckEnv, CheckSpec
from labsim.checks.reasons import Reason
from labsim.checks.result import RECORDS, AnyResult, CheckResult

# name -> (spec model, run function), from the records (checks/result.py: RECORDS)
CHECKS = {name: (getattr(mod, r.spec), getattr(mod, r.run))
          for name, r in RECORDS.items() for mod in [importlib.import_module(f"labsim.checks.{r.module}")]}

__all__ = ["CHECKS", "AnyResult", "CheckEnv", "CheckResult", "CheckSpec", "Reason"]
