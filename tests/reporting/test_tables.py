"""`p2pbench table`: grouping over seeds, every rendering, the paper's rows, refusals."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench import __version__
from p2pbench.cli import main
from p2pbench.protocols import get_protocol
from p2pbench.reporting.tables import (
    REFERENCES,
    TableError,
    build_table,
    load_reference,
    load_results,
    render_table,
    variant_label,
)

ACC = ("per_pixel_acc", "per_class_acc", "class_iou")
P2L_KEY = "pix2pix-2017-photo2labels@v1"
PAPER = {  # FACTS §2, transcribed independently of reports/reference/pix2pix-2017.json
    "table1": {
        "L1": (0.42, 0.15, 0.11),
        "GAN": (0.22, 0.05, 0.01),
        "cGAN": (0.57, 0.22, 0.16),
        "L1+GAN": (0.64, 0.20, 0.15),
        "L1+cGAN": (0.66, 0.23, 0.17),
        "Ground truth": (0.80, 0.26, 0.21),
    },
    "table2": {
        "Encoder-decoder (L1)": (0.35, 0.12, 0.08),
        "Encoder-decoder (L1+cGAN)": (0.29, 0.09, 0.05),
        "U-net (L1)": (0.48, 0.18, 0.13),
        "U-net (L1+cGAN)": (0.55, 0.20, 0.14),
    },
    "table3": {
        "1×1": (0.39, 0.15, 0.10),
        "16×16": (0.65, 0.21, 0.17),
        "70×70": (0.66, 0.23, 0.17),
        "286×286": (0.42, 0.16, 0.11),
    },
    "table6": {"L1": (0.86, 0.42, 0.35), "cGAN": (0.74, 0.28, 0.22), "L1+cGAN": (0.83, 0.36, 0.29)},
}


def _metrics(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


def _as_paper(data: dict) -> None:
    data["protocol"]["key"] = "pix2pix-2017@v1"
    data["n_images"] = 500


def _as_paper_photo2labels(data: dict) -> None:
    _as_paper(data)
    data["task"] = "photo2labels"
    data["protocol"]["key"] = P2L_KEY


@pytest.fixture
def files(result_files: dict[str, Path]) -> list[Path]:
    return [result_files[k] for k in ("real", "seed0", "seed1")]


def test_seeds_of_a_variant_become_one_row_with_mean_std_and_n(
    files: list[Path], result_files: dict
) -> None:
    table = build_table(load_results(files))
    frame = table.frame.set_index("variant")
    assert list(frame.index) == ["Ground truth", "tiny_unet"]
    assert list(frame["n"]) == [1, 2] and set(frame["origin"]) == {"ours"}
    runs = [_metrics(result_files[k]) for k in ("seed0", "seed1")]
    for m in ACC:
        values = [r[m] for r in runs]
        assert frame.loc["tiny_unet", m] == pytest.approx(statistics.mean(values), abs=1e-15)
        assert frame.loc["tiny_unet", f"{m}_std"] == pytest.approx(statistics.stdev(values))
        assert frame.loc["Ground truth", m] == _metrics(result_files["real"])[m]
    assert table.metrics == ACC and table.directions == dict.fromkeys(ACC, "higher")
    assert "synthcity@v1" in table.caption and "4 images" in table.caption
    assert f"p2pbench {__version__}" in table.caption and "fcn8s-synthcity64" in table.caption


def test_markdown_values_plus_minus_and_direction_aware_bold(result_files: dict, modified) -> None:
    # "good" wins every accuracy; "bad" has the lower (better) FID: bold follows the direction.
    good = modified(
        result_files["seed0"],
        "good.json",
        lambda d: d["metrics"].update(per_pixel_acc=0.9, fid=30.0),
    )
    bad = modified(
        result_files["seed1"],
        "bad.json",
        lambda d: d["metrics"].update(
            per_pixel_acc=0.1, per_class_acc=0.0, class_iou=0.0, fid=12.5
        ),
    )
    real = result_files["real"]
    text = render_table(build_table(load_results([good, bad, real])), "md")
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    assert "FID ↓" in rows["variant"] and "Per-pixel acc. ↑" in rows["variant"]
    assert "**0.900**" in rows["good"] and "| 30.000 |" in rows["good"]
    assert "**12.500**" in rows["bad"] and "| 0.100 |" in rows["bad"]
    assert "–" in rows["Ground truth"]  # the real row has no FID
    two_seeds = render_table(
        build_table(load_results([result_files["seed0"], result_files["seed1"]])), "md"
    )
    values = [_metrics(result_files[k])["class_iou"] for k in ("seed0", "seed1")]
    expected = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert f"**{expected}**" in two_seeds and "| 2 |" in two_seeds


def test_latex_booktabs_escaping_and_bold(result_files: dict, modified) -> None:
    odd = modified(
        result_files["seed0"], "odd.json", lambda d: d.update(variant="unet_64 50% & #1 {x}")
    )
    text = render_table(build_table(load_results([odd, result_files["real"]])), "latex")
    lines = text.splitlines()
    rules = [line for line in lines if line in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\bottomrule"]
    assert lines.index(r"\toprule") < lines.index(r"\bottomrule")
    assert r"unet\_64 50\% \& \#1 \{x\} & 1 & " in text
    assert r"\textbf{" in text and r"Per-pixel acc. $\uparrow$" in text
    assert r"\caption{labels2photo on protocol synthcity@v1" in text
    assert text.count(r"\begin{tabular}{lrrrr}") == 1


def test_html_is_escaped_bold_and_captioned(result_files: dict, modified) -> None:
    odd = modified(result_files["seed0"], "odd.json", lambda d: d.update(variant="a<b & c"))
    text = render_table(build_table(load_results([odd, result_files["real"]])), "html")
    root = ET.fromstring(text)
    assert "synthcity@v1" in root.find(".//caption").text
    cells = {row[0].text: row for row in root.iter("tr") if row[0].tag == "td"}
    assert set(cells) == {"a<b & c", "Ground truth"}
    bold = [td.find("b").text for td in cells["Ground truth"][2:]]
    real = _metrics(result_files["real"])
    assert bold == [f"{real[m]:.3f}" for m in ACC]


def test_csv_is_unformatted_data_with_std_and_n(files: list[Path], result_files: dict) -> None:
    rows = list(csv.DictReader(io.StringIO(render_table(build_table(load_results(files)), "csv"))))
    assert list(rows[0]) == ["variant", "origin", "n", *ACC, *(f"{m}_std" for m in ACC)]
    real, unet = rows
    assert real["n"] == "1" and real["per_pixel_acc_std"] == ""
    assert float(real["class_iou"]) == _metrics(result_files["real"])["class_iou"]
    values = [_metrics(result_files[k])["per_class_acc"] for k in ("seed0", "seed1")]
    assert unet["n"] == "2" and "*" not in unet["per_class_acc"]
    assert float(unet["per_class_acc_std"]) == pytest.approx(statistics.stdev(values))


def test_paper_rows_only_for_the_paper_protocol(files: list[Path], modified) -> None:
    ours = build_table(load_results(files), reference="pix2pix-2017:table3")
    assert set(ours.frame["origin"]) == {"ours"} and "not shown" in ours.notes[0]
    paper_like = [modified(f, f.name, _as_paper) for f in files]
    table = build_table(load_results(paper_like), reference="pix2pix-2017:table3")
    paper = table.frame[table.frame["origin"] == "paper"].set_index("variant")
    assert list(paper.index) == list(PAPER["table3"])
    for name, values in PAPER["table3"].items():
        assert tuple(paper.loc[name, list(ACC)]) == values
    assert "Isola et al., CVPR 2017, arXiv 1611.07004 v3" in table.caption
    md = render_table(table, "md")
    assert "| 70×70 | paper |  | 0.66 | 0.23 | 0.17 |" in md  # never bold, 2 decimals
    latex = render_table(table, "latex")
    assert r"\midrule" + "\n" + r"1$\times$1 & paper" in latex  # a rule between ours and paper
    # Same protocol key but 4 images, or the photo→labels table: no paper rows.
    few = [
        modified(f, "few-" + f.name, lambda d: d["protocol"].update(key="pix2pix-2017@v1"))
        for f in files
    ]
    assert "paper" not in set(build_table(load_results(few), "pix2pix-2017:table1").frame.origin)
    t6 = build_table(load_results(paper_like), "pix2pix-2017:table6")
    assert "photo2labels" in t6.notes[0] and "paper" not in set(t6.frame["origin"])
    photo2labels = [modified(f, "p2l-" + f.name, _as_paper_photo2labels) for f in files]
    t6 = build_table(load_results(photo2labels), "pix2pix-2017:table6")
    assert list(t6.frame[t6.frame["origin"] == "paper"]["variant"]) == list(PAPER["table6"])


def test_reference_file_holds_the_papers_tables() -> None:
    data = json.loads((REFERENCES / "pix2pix-2017.json").read_text(encoding="utf-8"))
    assert data["protocol_key"] == "pix2pix-2017@v1"
    assert data["citation"] == "Isola et al., CVPR 2017, arXiv 1611.07004 v3"
    keys = {name: load_reference(f"pix2pix-2017:{name}").protocol_key for name in PAPER}
    assert keys == {
        "table1": data["protocol_key"],
        "table2": data["protocol_key"],
        "table3": data["protocol_key"],
        "table6": P2L_KEY,
    }
    assert {
        f"{p.name}@v{p.version}"
        for p in (get_protocol("pix2pix-2017"), get_protocol("pix2pix-2017-photo2labels"))
    } == {data["protocol_key"], P2L_KEY}  # the keys name registered protocols
    for name, rows in PAPER.items():
        ref = load_reference(f"pix2pix-2017:{name}")
        assert {r["name"]: tuple(r[m] for m in ACC) for r in ref.rows} == rows
    with pytest.raises(TableError, match="table4.*table1"):
        load_reference("pix2pix-2017:table4")
    with pytest.raises(TableError, match="pix2pix-2017"):
        load_reference("nopaper:table1")


def test_a_malformed_reference_file_is_refused(tmp_path: Path) -> None:
    data = json.loads((REFERENCES / "pix2pix-2017.json").read_text(encoding="utf-8"))
    data["tables"]["table1"]["rows"][0]["class_iou"] = "0.11"
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TableError, match="not a valid reference file"):
        load_reference(f"{path}:table1")
    assert len(load_reference(f"{path}:table3").rows) == 4  # a file path works too


def test_different_protocols_or_sizes_never_share_a_table(files: list[Path], modified) -> None:
    other = modified(files[1], "other.json", lambda d: d["protocol"].update(digest="0" * 64))
    fewer = modified(files[2], "fewer.json", lambda d: d.update(n_images=3))
    with pytest.raises(TableError, match="not comparable") as info:
        build_table(load_results([*files, other, fewer]))
    for name in ("real.json", "other.json", "fewer.json", "3 images", "digest 000000000000"):
        assert name in str(info.value)
    res = CliRunner().invoke(main, ["table", str(files[0]), str(fewer)])
    assert res.exit_code == 2 and "Tabulate each group separately" in res.output


def test_group_by_metrics_and_refusals(files: list[Path], result_files: dict) -> None:
    results = load_results(files)
    table = build_table(results, group_by="source.kind", metrics=["class_iou", "per_pixel_acc"])
    assert list(table.frame["variant"]) == ["real", "generator"]
    assert table.metrics == ("class_iou", "per_pixel_acc")
    assert variant_label(results[1]) == "tiny_unet"  # file stem without ".seed0"
    run = {"generator": "unet256", "discriminator": "patch70", "loss": "l1+cgan", "seed": 3}
    assert (
        variant_label(dataclasses.replace(results[1], source={"kind": "generator", "run": run}))
        == "unet256 + patch70, l1+cgan"
    )
    assert variant_label(dataclasses.replace(results[1], variant="mine")) == "mine"
    with pytest.raises(TableError, match="source.name"):
        build_table(results, group_by="source.name")  # the real row has no name
    with pytest.raises(TableError, match="fid.*present: per_pixel_acc"):
        build_table(results, metrics=["fid"])
    with pytest.raises(TableError, match="same evaluation"):
        build_table(load_results([result_files["seed0"], result_files["seed0"]]))


def test_cli_formats_and_bad_input(files: list[Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "table.tex"
    res = runner.invoke(
        main,
        [
            "table",
            *map(str, files),
            "--format",
            "latex",
            "--out",
            str(out),
            "--metrics",
            "class_iou",
        ],
    )
    assert res.exit_code == 0, res.output
    assert r"\toprule" in out.read_text(encoding="utf-8") and "Class IoU" in out.read_text()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    for bad in (broken, tmp_path / "missing.json"):
        res = runner.invoke(main, ["table", str(files[0]), str(bad)])
        assert res.exit_code == 2 and str(bad) in res.output
    res = runner.invoke(main, ["table", str(files[0]), "--reference", "pix2pix-2017"])
    assert res.exit_code == 2 and "NAME:TABLE" in res.output


def test_cli_reference_is_package_data_not_a_path_from_the_working_directory(
    files: list[Path], modified, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper_like = [modified(f, f.name, _as_paper) for f in files]
    monkeypatch.chdir(tmp_path)  # no reports/ nor p2pbench/ source folder here
    runner = CliRunner()
    res = runner.invoke(
        main, ["table", *map(str, paper_like), "--reference", "pix2pix-2017:table3"]
    )
    assert res.exit_code == 0, res.output
    assert "| 70×70 | paper |  | 0.66 | 0.23 | 0.17 |" in res.output
    assert "Isola et al., CVPR 2017, arXiv 1611.07004 v3" in res.output
    res = runner.invoke(main, ["table", str(files[1]), "--reference", "pix2pix-2017:table3"])
    assert res.exit_code == 0, res.output
    assert "not shown" in res.output and "| paper |" not in res.output


def test_feature_metrics_get_columns_and_direction_aware_bold(result_files: dict, modified) -> None:
    a = modified(
        result_files["seed0"],
        "a.json",
        lambda d: d["metrics"].update(fd_dinov2=500.0, cmmd=2.0, recall=0.40),
    )
    b = modified(
        result_files["seed1"],
        "b.json",
        lambda d: d["metrics"].update(fd_dinov2=400.0, cmmd=3.0, recall=0.30),
    )
    text = render_table(build_table(load_results([a, b])), "md")
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    header = rows["variant"]
    assert "FD_DINOv2 ↓" in header and "CMMD ↓" in header and "Recall ↑" in header
    assert "**400.000**" in rows["b"] and "| 500.000 |" in rows["a"]  # lower FD wins
    assert "**2.000**" in rows["a"] and "**0.400**" in rows["a"]  # lower CMMD, higher recall
