"""The report's template: every string escaped in every section, a malformed summary a note,
the template and CSS package data, the seeds' interval and the run seed's rule."""

from __future__ import annotations

import dataclasses
import json
import statistics
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from reference.report_folders import (
    EVIL,
    METRIC_KEYS,
    SEEDS,
    VARIANTS,
    Page,
    fake_metrics,
    make_ablation,
    make_plain,
    make_result,
)

from p2pbench.reporting.html import build_report
from p2pbench.results import Result

# ------------------------------------------------------------------------------------------
# The template, its escaping and the view models


class Contexts(HTMLParser):
    """Every text and attribute value of a page, with where it lies: (section id, the innermost
    caption / figcaption / summary / dd / th / skipped or problems note around it)."""

    MARKS = ("caption", "figcaption", "summary", "dd", "th", "h1")

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section = "header"
        self.stack: list[str] = []
        self.found: list[tuple[str, str, str]] = []  # (section, mark, text)
        self.tags: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.section = a.get("id") or ""
        mark = tag if tag in self.MARKS else f"div.{a.get('class')}" if tag == "div" else None
        if tag not in ("img", "meta", "br"):
            self.stack.append(mark or (self.stack[-1] if self.stack else ""))
        for value in a.values():
            self.found.append((self.section, f"{tag}@", value or ""))

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.found.append((self.section, self.stack[-1] if self.stack else "", data))

    def where(self, needle: str) -> set[tuple[str, str]]:
        return {(s, m) for s, m, text in self.found if needle in text}


def test_a_script_tag_in_result_fields_is_escaped_in_every_section(tmp_path: Path) -> None:
    root = tmp_path / "evil"
    for i, name in enumerate(("a", "b")):
        result = make_result(fake_metrics(i, 0), 0, name)
        prov = result.provenance | {"device": EVIL, "segmenter": {"name": EVIL, "sha256": "ef"}}
        dataclasses.replace(result, task=EVIL, provenance=prov).write(root / f"{name}.json")
    broken = make_result(fake_metrics(0, 0), 0, "c").to_dict() | {"schema_version": EVIL}
    (root / "broken.json").write_text(json.dumps(broken))
    text = build_report(root)
    assert "<script" not in text.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Contexts(text)
    assert "script" not in page.tags
    where = page.where(EVIL)
    assert ("tables", "caption") in where  # the results table's caption (segmenter, task)
    assert ("charts", "figcaption") in where  # the chart captions (task)
    assert ("provenance", "dd") in where  # device, segmenter, task
    assert ("header", "div.skipped") in where  # the skipped file's reason
    ablation_page = Contexts(build_report(make_ablation(tmp_path / "ablation")))
    assert "script" not in ablation_page.tags
    where = ablation_page.where(EVIL)  # a variant named and labelled like a script tag
    assert {"tables", "samples", "provenance"} <= {section for section, _ in where}
    assert {("samples", "th"), ("samples", "img@")} <= where  # column heads, alt texts
    assert ("provenance", "summary") in where


def test_a_malformed_summary_gives_a_note_not_a_crash(tmp_path: Path) -> None:
    root = make_ablation(tmp_path / "ablation")
    (root / "summary.json").write_text(json.dumps({"format": "p2pbench-ablation-summary"}))
    text = build_report(root)
    assert "summary.json is incomplete" in text
    assert not [cells for section, _, cells in Page(text).rows if section == "tables"]
    assert len([i for i in Page(text).images if i["section"] == "charts"]) == len(METRIC_KEYS)


def test_template_and_css_are_package_data_and_inlined(tmp_path: Path) -> None:
    templates = resources.files("p2pbench.reporting") / "templates"
    template = (templates / "report.html.j2").read_text(encoding="utf-8")
    css = (templates / "report.css").read_text(encoding="utf-8")
    assert "autoescape" not in template  # escaping is the environment's, not switched off here
    assert css.strip() and "{{" not in css
    text = build_report(make_plain(tmp_path / "plain"))
    style = text[text.index("<style>") + len("<style>") : text.index("</style>")]
    assert style.strip() == css.strip()  # inlined verbatim: quotes in font names not escaped


def test_seeds_interval_without_summary_is_the_student_t_interval(tmp_path: Path) -> None:
    from scipy import stats

    from p2pbench.reporting.report.ablation_view import ablation_points
    from p2pbench.reporting.report.folder import scan

    root = make_ablation(tmp_path / "ablation")
    (root / "summary.json").unlink()
    points = {p.label: p for p in ablation_points(scan(root), "class_iou")}
    for i, (_, label) in enumerate(VARIANTS):
        values = [fake_metrics(i, s)["class_iou"] for s in SEEDS]
        mean, sd = statistics.fmean(values), statistics.stdev(values)
        half = stats.t.ppf(0.975, len(values) - 1) * sd / len(values) ** 0.5
        p = points[label]
        assert p.value == pytest.approx(mean) and p.values == tuple(values)
        assert (p.low, p.high) == pytest.approx((mean - half, mean + half))


def test_a_runs_seed_is_the_training_seed_never_the_eval_seed() -> None:
    # one rule everywhere (Result.train_seed): the ablation block's seed, else the trainer's
    # run config; the evaluation's own seed (provenance.seed, 5 here) is not a training seed
    from p2pbench.reporting.report.shapes import run_seed, seed_text

    def read(**extra: Any) -> Result:
        return Result.from_dict(make_result({}, 5, "a", **extra).to_dict())

    with_seed = read(ablation={"variant": "patch1", "seed": 2})
    without = read(ablation={"variant": "patch1"})
    assert (run_seed(with_seed), run_seed(without)) == (2.0, float("inf"))
    assert (seed_text(with_seed), seed_text(without)) == ("2", "?")
    configured = Result.from_dict(
        {**without.to_dict(), "source": {**without.source, "run": {"seed": 3}}}
    )
    assert run_seed(configured) == 3.0
