"""Checks an uncertain profile's error law (`normal(15 %)`, `errors(csv(...))`) into an ErrorLaw (E0820)."""
from __future__ import annotations

import numpy as np

from ..diagnostics import Collector
from ..ir import ErrorLaw
from ..syntax import ast
from . import units
from .values import Evaluator

KINDS = ("normal", "errors")
MAX_REL_STD = 1 / np.sqrt(3)      # Hong's points sit at +-sqrt(3) sigma: a larger one would draw negative forecasts
MIN_SAMPLE = 2


class _SampleEvaluator(Evaluator):
    """An evaluator whose series may have any length: a sample of errors is not a profile over the horizon."""

    def _series(self, arr, span):
        return arr if arr.size > 1 else float(arr[0])


def check_law(item: ast.Profile, ev: Evaluator, diag: Collector) -> ErrorLaw | None:
    d = item.distribution
    help_ = ("write `uncertain profile NAME normal(15 %) = ...` (a relative standard deviation) or "
             "`uncertain profile NAME errors(csv(\"errors.csv\", \"COLUMN\")) = ...` (observed relative errors)")
    if not item.uncertain:
        diag.error("E0820", f"profile `{item.name}` has an error law but is not uncertain", d.span,
                   "an error law", help=f"declare it `uncertain profile {item.name} ...`")
        return None
    if d.kind not in KINDS:
        diag.error("E0820", f"unknown error law `{d.kind}`", d.kind_span, "not `normal` or `errors`", help=help_)
        return None
    sub = _SampleEvaluator(ev.env, ev.diag, ev.steps, ev.dt_h, ev.base_dir, ev.csvs)
    c = sub.try_eval(d.value)
    if c is None:
        return None
    if c.dim != units.NONE and not c.zero:
        diag.error("E0820", f"the error law of `{item.name}` has a unit ({units.describe(c.dim)})", d.value.span,
                   "relative to the forecast", help="give it without a unit or in % (`normal(15 %)`, errors as "
                                                    "fractions of the forecast: 0.1 is 10 % above it)")
        return None
    value = np.asarray(c.value, dtype=float)
    if d.kind == "normal":
        if value.ndim or not 0 <= float(value) <= MAX_REL_STD:
            diag.error("E0820", f"the relative standard deviation of `{item.name}` must be one number from 0 to "
                                f"{100 * MAX_REL_STD:.1f} %", d.value.span, "not in 0 .. 57.7 %",
                       help="the point estimate evaluates the model at the forecast times 1 +- sqrt(3) sigma, which "
                            "must stay non-negative; give e.g. `normal(15 %)`")
            return None
        return ErrorLaw("normal", d.span, rel_std=float(value))
    if value.ndim == 0 or value.size < MIN_SAMPLE or float(value.std()) == 0.0 or np.any(value <= -1):
        diag.error("E0820", f"the forecast errors of `{item.name}` must be at least {MIN_SAMPLE} different values "
                            "above -1", d.value.span, "not a sample of relative errors",
                   help="give the observed (actual - forecast) / forecast of past steps, one per row of a CSV column")
        return None
    return ErrorLaw("errors", d.span, sample=value)
