"""`p2pbench table`, `p2pbench report` and `p2pbench check`: renderings of result files (a table,
a self-contained HTML page of a folder), and the CI gate.

Exit codes (`p2pbench.cli.errors`): 0 success (check: no regression), 1 a regression (check),
2 unusable input (unreadable or malformed files, results that cannot be compared, bad options).
"""

from __future__ import annotations

from pathlib import Path

import click

from p2pbench.base import atomic_path, atomic_write_text
from p2pbench.cli import checks
from p2pbench.cli.errors import (
    BAD_INPUT,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    message_of,
)
from p2pbench.reporting.check import (
    CheckReport,
    Tolerances,
    compare,
    render_junit,
    render_junit_error,
    render_markdown,
)
from p2pbench.reporting.formats import FORMATS
from p2pbench.reporting.html import write_report
from p2pbench.reporting.tables import build_table, load_results, render_table
from p2pbench.results import ResultError, read_result


@click.command("table")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="md",
    show_default=True,
    help="md (Markdown), latex (booktabs), csv (data: unformatted means, <metric>_std, n) or html",
)
@click.option(
    "--reference",
    default=None,
    help="the paper's rows beside ours, e.g. pix2pix-2017:table3 (shown only when the "
    "protocol, task and number of images match)",
)
@click.option(
    "--group-by",
    default=None,
    help="key path that names a result's row, e.g. source.name (default: its variant label)",
)
@click.option(
    "--metrics",
    default=None,
    help="comma-separated metric columns, in order (default: every ranked metric present)",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="write to a file")
def table_command(
    results: tuple[str, ...],
    fmt: str,
    reference: str | None,
    group_by: str | None,
    metrics: str | None,
    out: str | None,
) -> None:
    """Tabulate result files paper-style: variants × metrics, mean ± std over seeds.

    Results of different protocols or numbers of images are refused (exit 2); pass each
    group's files separately.
    """
    if out:
        checks.output_file(out, "--out", inputs=results)
    wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    table = build_table(load_results(results), reference, group_by, wanted)
    if fmt == "csv":  # the other renderings carry their notes
        for note in table.notes:
            click.echo(f"note: {note}", err=True)
    text = render_table(table, fmt)
    if out:
        atomic_write_text(out, text)
    else:
        click.echo(text, nl=False)


@click.command("report")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="the HTML file to write (refused if it exists, unless --overwrite)",
)
@click.option("--title", default=None, help="page title (default: the ablation's, or the folder)")
@click.option("--overwrite", is_flag=True, help="replace an existing --out file")
def report_command(folder: str, out: str, title: str | None, overwrite: bool) -> None:
    """Write one self-contained HTML page about the results in FOLDER.

    Reads every result file under FOLDER (other JSON files are listed as skipped). A folder
    written by `p2pbench ablate` also gets its summary table, per-metric charts over seeds,
    training curves and the image grid of its samples. Images and charts are embedded; the page
    needs no network. Every referenced file is checked against its recorded sha256.
    """
    if Path(out).exists() and not overwrite:
        raise CommandError(f"--out {out} exists; pass --overwrite to replace it", EXIT_BAD_INPUT)
    checks.output_file(out, "--out")
    written = write_report(folder, out, overwrite=overwrite, title=title)
    click.echo(f"report written: {written}", err=True)


def _parse_tolerances(values: tuple[str, ...]) -> dict[str, float]:
    parsed: dict[str, float] = {}
    for item in values:
        key, sep, number = item.partition("=")
        try:
            parsed[key.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise click.BadParameter(
                f"expected METRIC=ABS such as fid=0.5, found {item!r}", param_hint="--tol"
            )
    return parsed


@click.command("check")
@click.argument("result", type=click.Path(dir_okay=False))
@click.option(
    "--baseline",
    required=True,
    type=click.Path(dir_okay=False),
    help="the accepted result file to compare with",
)
@click.option(
    "--tol",
    multiple=True,
    metavar="METRIC=ABS",
    help="allowed worsening of one metric, e.g. --tol class_iou=0.01 (repeatable; default 0)",
)
@click.option(
    "--rel-tol",
    type=float,
    default=0.0,
    show_default=True,
    help="allowed worsening relative to |baseline|; a metric may move by the larger of the two",
)
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="JUnit XML file")
@click.option(
    "--update-baseline",
    is_flag=True,
    help="accept RESULT: print the comparison if there is one, then copy RESULT over the "
    "baseline (atomically, whole file) and exit 0",
)
def check_command(
    result: str,
    baseline: str,
    tol: tuple[str, ...],
    rel_tol: float,
    junit: str | None,
    update_baseline: bool,
) -> None:
    """Compare RESULT with a baseline result, metric by metric, for CI.

    Higher is better for accuracies, IoU, IS, PSNR and SSIM; lower for FID, KID and L1. A metric
    worse by more than its tolerance is a regression. Prints a Markdown summary. Exit status: 0
    within tolerance, 1 regression, 2 unusable input (unreadable or malformed files, missing
    metrics, different protocols or numbers of images).
    """
    if junit:
        checks.output_file(junit, "--junit", inputs=(result, baseline))
    if update_baseline:
        checks.output_file(baseline, "--baseline", inputs=(result,))
    try:
        report = _compare(result, baseline, tol, rel_tol, update_baseline)
    except BAD_INPUT as e:
        if junit:
            atomic_write_text(junit, render_junit_error(message_of(e)))
        raise CommandError(message_of(e), EXIT_BAD_INPUT) from None
    if report is not None:
        click.echo(render_markdown(report), nl=False)
        if junit:
            atomic_write_text(junit, render_junit(report))
    ctx = click.get_current_context()
    if update_baseline:
        existed = Path(baseline).exists()
        with atomic_path(baseline) as tmp:  # the whole file, byte for byte
            tmp.write_bytes(Path(result).read_bytes())
        action = "replaced" if existed else "created"
        click.echo(f"baseline {baseline} {action}: copy of {result}", err=True)
        ctx.exit(EXIT_OK)
    assert report is not None
    ctx.exit(EXIT_FAILED if report.regressed else EXIT_OK)


def _compare(
    result: str, baseline: str, tol: tuple[str, ...], rel_tol: float, update_baseline: bool
) -> CheckReport | None:
    """The comparison report, or None when --update-baseline replaces an unusable baseline."""
    tolerances = Tolerances(_parse_tolerances(tol), relative=rel_tol)
    new = read_result(result)
    if not Path(baseline).exists():
        if update_baseline:
            return None
        raise ResultError(
            f"baseline not found: {baseline}; create it from a result you accept with "
            f"`p2pbench check {result} --baseline {baseline} --update-baseline`"
        )
    try:
        old = read_result(baseline)
        return compare(new, old, tolerances, result_name=result, baseline_name=baseline)
    except BAD_INPUT as e:
        if not update_baseline:
            raise
        click.echo(f"note: the old baseline is not comparable ({e}); replacing it", err=True)
        return None


COMMANDS = (table_command, check_command, report_command)
