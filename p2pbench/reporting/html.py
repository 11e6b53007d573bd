"""One self-contained HTML report of a folder of p2pbench results (`p2pbench report`).

`build_report(folder)` reads every `*.json` under `folder` (recursively) that
`p2pbench.results.read_result` accepts; other JSON files are listed as skipped, never silently
dropped. A folder written by `p2pbench ablate` (a `plan.json` of format `p2pbench-ablation` at
its root) gets the ablation view: its `summary.json` table, a chart per metric with the seeds'
values and intervals, the runs' training curves (`log.jsonl` beside each result) and the image
grid of the fixed val samples (input, one column per variant, target). Any other folder gets the
plain results table (`p2pbench.reporting.formats`, HTML) and a bar per result per metric. The
published tables of a paper (`p2pbench.reporting.tables.REFERENCES`) are shown for results on
a paper-comparable protocol with the paper's protocol, task and number of images (only the
table a plan names as `paper_table`, e.g. `pix2pix-2017:table3`, when it names one).

The page needs nothing but itself: images and charts are PNG data URIs, the CSS is inline, there
is no script and no external address. Every file a result references is checked against its
recorded sha256 (and must lie inside `folder`) before it is embedded; a missing or changed file
becomes a visible `missing/changed: PATH` cell and is listed. Every string read from a file is
HTML-escaped: the page is a Jinja2 template (package data, autoescaping on) over view models.

The code lives in `p2pbench.reporting.report`: `folder` (reading the folder), `shapes` (every
read of the ablation files' dict shapes), `embed` (files as data URIs), `views` (the view
models), `ablation_view`, `plain_view`, `curves`, `provenance` and `page` (assembly, rendering).
"""

from __future__ import annotations

from p2pbench.reporting.report.folder import Folder, ReportError, scan
from p2pbench.reporting.report.page import build_page, build_report, render_page, write_report

__all__ = [
    "Folder",
    "ReportError",
    "build_page",
    "build_report",
    "render_page",
    "scan",
    "write_report",
]
