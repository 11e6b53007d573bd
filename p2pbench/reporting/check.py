"""The CI regression check: one result against a baseline result, direction-aware.

Every metric of the baseline with a direction (`p2pbench.metrics.keys.RANKED`) is compared.
A metric *regresses* when it moves in the worse direction by more than its tolerance, and
*improves* when it moves in the better direction by more than its tolerance; anything else is
`ok`. A metric's tolerance is the larger of its absolute tolerance (default 0: any worsening is a
regression) and `relative × |baseline|`; a change equal to the tolerance passes.

Results that cannot be compared raise `CheckInputError`: a metric of the baseline missing from
the result, different tasks, protocols (by digest) or numbers of images, or a compared metric
computed another way (`METHOD_FIELDS`: the FID preprocessing, a feature metric's encoder and
mode, CMMD's precision). The CLI turns the report into exit codes (0 pass, 1 regression, 2
unusable input).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from p2pbench.errors import BadInputError
from p2pbench.metrics.keys import HIGHER, LOWER, METRICS, RANKED
from p2pbench.results import Result

DIRECTIONS: dict[str, str] = {name: str(METRICS[name].direction) for name in RANKED}
"""Which way is better for every metric p2pbench ranks (from `p2pbench.metrics.keys`)."""

_SLACK = 1e-12  # absorbs float rounding when a change equals the tolerance

METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "inception": ("mode",),
    "dinov2": ("encoder", "mode"),
    "cmmd": ("encoder", "mode", "precision"),
    "prdc": ("encoder", "mode"),
}
"""Provenance fields that change a metric group's numbers: results that differ in one are
not compared on that group's metrics."""
_METHOD_DEFAULTS = {("cmmd", "precision"): "float64"}  # results of 0.2.0 and before: float64


class CheckInputError(BadInputError, ValueError):
    """The result and the baseline cannot be compared; the message says why and what to do."""


@dataclass(frozen=True)
class Tolerances:
    """Allowed worsening: per-metric absolute values, else `default`; at least `relative`×|base|."""

    absolute: Mapping[str, float] = field(default_factory=dict)
    relative: float = 0.0
    default: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.absolute) - set(DIRECTIONS))
        if unknown:
            raise CheckInputError(
                f"tolerance given for unknown metric(s) {unknown}; known: {', '.join(DIRECTIONS)}"
            )
        values = [*self.absolute.values(), self.relative, self.default]
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise CheckInputError(f"tolerances must be finite and ≥ 0, found {values}")

    def allowed(self, metric: str, baseline: float) -> float:
        return max(self.absolute.get(metric, self.default), self.relative * abs(baseline))

    def describe(self, metric: str, baseline: float) -> str:
        absolute = self.absolute.get(metric, self.default)
        if self.relative * abs(baseline) > absolute:
            return f"{self.allowed(metric, baseline):.4g} ({self.relative:g}× baseline)"
        return f"{absolute:.4g}"


@dataclass(frozen=True)
class MetricCheck:
    """One metric's verdict: `ok`, `improved`, `regressed`, or `new` (not in the baseline)."""

    metric: str
    direction: str
    baseline: float | None
    result: float
    tolerance: float
    tolerance_text: str
    status: str

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.result - self.baseline


@dataclass(frozen=True)
class CheckReport:
    """The comparison of a result with its baseline; `regressed` decides the exit code."""

    protocol_key: str
    n_images: int
    checks: tuple[MetricCheck, ...]
    notes: tuple[str, ...] = ()
    result_name: str = "result"
    baseline_name: str = "baseline"

    @property
    def regressions(self) -> tuple[MetricCheck, ...]:
        return tuple(c for c in self.checks if c.status == "regressed")

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def compare(
    result: Result,
    baseline: Result,
    tolerances: Tolerances | None = None,
    *,
    result_name: str = "result",
    baseline_name: str = "baseline",
) -> CheckReport:
    """Compare two validated results (see p2pbench.results) metric by metric."""
    tolerances = tolerances or Tolerances()
    _require_comparable(result, baseline, result_name, baseline_name)
    base_m, res_m = baseline.metrics, result.metrics
    # a metric the baseline records as unavailable (e.g. FID without Inception weights) is not
    # compared; one the baseline has a number for must have a number in the result
    compared = [m for m in DIRECTIONS if _is_number(base_m.get(m))]
    if not compared:
        raise CheckInputError(
            f"{baseline_name} has no numeric metric p2pbench can rank (found {sorted(base_m)}; "
            f"known: {', '.join(DIRECTIONS)})"
        )
    missing = [m for m in compared if not _is_number(res_m.get(m))]
    if missing:
        raise CheckInputError(
            f"{result_name} lacks numeric value(s) for {missing}, which {baseline_name} "
            "compares; evaluate with the same metrics as the baseline (a metric reported "
            "unavailable says why), or replace the baseline (--update-baseline)"
        )
    _require_same_method(result, baseline, compared, result_name, baseline_name)
    checks = [_check(m, float(base_m[m]), float(res_m[m]), tolerances) for m in compared]
    for m in DIRECTIONS:
        if m not in compared and _is_number(res_m.get(m)):
            checks.append(MetricCheck(m, DIRECTIONS[m], None, float(res_m[m]), 0.0, "–", "new"))
    notes = []
    data = [r.provenance.get("data_sha256") for r in (result, baseline)]
    if data[0] != data[1]:
        notes.append(
            "the scored inputs and labels differ (provenance.data_sha256): the dataset files "
            "or their preprocessing changed"
        )
    return CheckReport(
        result.protocol_key,
        result.n_images,
        tuple(checks),
        tuple(notes),
        result_name,
        baseline_name,
    )


def _check(metric: str, base: float, value: float, tolerances: Tolerances) -> MetricCheck:
    direction = DIRECTIONS[metric]
    if not (math.isfinite(base) and math.isfinite(value)):
        raise CheckInputError(f"{metric}: values must be finite, found {base} → {value}")
    gain = value - base if direction == HIGHER else base - value
    allowed = tolerances.allowed(metric, base)
    limit = allowed + _SLACK * max(1.0, abs(base))
    status = "regressed" if -gain > limit else "improved" if gain > limit else "ok"
    return MetricCheck(
        metric, direction, base, value, allowed, tolerances.describe(metric, base), status
    )


def _require_comparable(
    result: Result, baseline: Result, result_name: str, baseline_name: str
) -> None:
    fields = {
        "task": lambda r: r.task,
        "protocol": lambda r: f"{r.protocol_key} (digest {r.protocol_digest})",
        "n_images": lambda r: r.n_images,
    }
    for what, get in fields.items():
        found, expected = get(result), get(baseline)
        if found != expected:
            raise CheckInputError(
                f"{what} differs: {baseline_name} has {expected}, {result_name} has {found}. "
                "Only results of the same task, protocol and number of images are comparable: "
                "evaluate the same way as the baseline, or replace the baseline "
                "(--update-baseline) if the change is intended"
            )


def _method(result: Result, group: str) -> dict[str, Any]:
    """The group's `METHOD_FIELDS` as `result` records them (empty when not recorded)."""
    features = result.provenance.get("features")
    section = (
        result.provenance.get("inception")
        if group == "inception"
        else features.get(group)
        if isinstance(features, dict)
        else None
    )
    if not isinstance(section, dict) or section.get("available") is False:
        return {}
    return {
        f: section.get(f, _METHOD_DEFAULTS.get((group, f))) for f in METHOD_FIELDS.get(group, ())
    }


def _require_same_method(
    result: Result,
    baseline: Result,
    compared: list[str],
    result_name: str,
    baseline_name: str,
) -> None:
    for group in sorted({METRICS[m].group for m in compared} & set(METHOD_FIELDS)):
        found, expected = _method(result, group), _method(baseline, group)
        differ = [f for f in found if f in expected and found[f] != expected[f]]
        if differ:
            what = ", ".join(f"{f} {expected[f]!r} → {found[f]!r}" for f in differ)
            metrics = ", ".join(m for m in compared if METRICS[m].group == group)
            raise CheckInputError(
                f"{metrics} computed another way than in {baseline_name} ({group}: {what}); "
                "such numbers are not comparable: evaluate with the baseline's settings, or "
                "replace the baseline (--update-baseline) if the change is intended"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def render_markdown(report: CheckReport) -> str:
    """A Markdown summary (e.g. for $GITHUB_STEP_SUMMARY): verdict, table, notes."""
    verdict = "REGRESSION" if report.regressed else "pass"
    arrow = {HIGHER: "↑", LOWER: "↓"}
    lines = [
        f"### p2pbench check: {verdict}",
        "",
        f"`{report.result_name}` against `{report.baseline_name}`: protocol "
        f"`{report.protocol_key}`, {report.n_images} images.",
        "",
        "| metric | baseline | result | delta | tolerance | status |",
        "|:--|--:|--:|--:|--:|:--|",
    ]
    for c in report.checks:
        status = "**REGRESSED**" if c.status == "regressed" else c.status
        lines.append(
            f"| {c.metric} {arrow[c.direction]} | {_fmt(c.baseline)} | {_fmt(c.result)} | "
            f"{_fmt(c.delta, signed=True)} | {c.tolerance_text} | {status} |"
        )
    lines += [""] + [f"Note: {n}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_junit(report: CheckReport) -> str:
    """JUnit XML: one testcase per metric, a `failure` element for each regression."""
    suite = _suite(len(report.checks), len(report.regressions), 0)
    skipped = 0
    for c in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"p2pbench.check.{report.protocol_key}", name=c.metric
        )
        text = (
            f"{c.metric} ({c.direction} is better): baseline {_fmt(c.baseline)}, result "
            f"{_fmt(c.result)}, delta {_fmt(c.delta, signed=True)}, tolerance {c.tolerance_text}"
        )
        if c.status == "regressed":
            failure = ET.SubElement(case, "failure", type="regression", message=text)
            failure.text = text
        elif c.status == "new":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"{c.metric} is not in the baseline")
        else:
            ET.SubElement(case, "system-out").text = f"{c.status}: {text}"
    suite.set("skipped", str(skipped))
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    return _xml(suite)


def render_junit_error(message: str) -> str:
    """JUnit XML for unusable input: one testcase with an `error` element."""
    suite = _suite(1, 0, 1)
    case = ET.SubElement(suite, "testcase", classname="p2pbench.check", name="input")
    ET.SubElement(case, "error", type="unusable-input", message=message).text = message
    return _xml(suite)


def _suite(tests: int, failures: int, errors: int) -> ET.Element:
    return ET.Element(
        "testsuite",
        name="p2pbench check",
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )


def _xml(suite: ET.Element) -> str:
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
