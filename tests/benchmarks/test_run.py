"""benchmarks.run: FLOP counting, the Markdown tables, options, and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from benchmarks import run
from benchmarks.common import count_flops


def conv_flops(n: int, c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    """Closed form: one multiply-add (2 FLOPs) per weight per output pixel."""
    return 2 * n * c_out * c_in * k * k * h_out * w_out


def test_count_flops_of_a_conv_is_the_closed_form() -> None:
    x = torch.randn(2, 3, 17, 13)
    w = torch.randn(5, 3, 3, 3)
    y = F.conv2d(x, w, stride=2, padding=1)
    assert y.shape[-2:] == (9, 7)
    assert count_flops(lambda: F.conv2d(x, w, stride=2, padding=1)) == conv_flops(2, 3, 5, 3, 9, 7)


def test_count_flops_of_forward_and_backward_is_three_forwards() -> None:
    x = torch.randn(1, 4, 16, 16, requires_grad=True)
    w = torch.randn(8, 4, 4, 4, requires_grad=True)
    forward = conv_flops(1, 4, 8, 4, 8, 8)
    flops = count_flops(lambda: F.conv2d(x, w, stride=2, padding=1).sum().backward())
    assert flops == 3 * forward  # input and weight gradients each cost one forward


def test_fmt_cells() -> None:
    assert run.fmt(None) == "–"
    assert run.fmt(12.345) == "12.3"
    assert run.fmt(0.001234) == "1.23e-03"
    assert run.fmt(1234.5) == "1,234"
    assert run.fmt(3) == "3"
    assert run.fmt("a|b") == "a\\|b"


def _payload(sections: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    env = {"torch": "9.9", "threads": 2, "cpu_model": "Test CPU", "cores": 2, "device": "cpu"}
    return {
        "environment": env,
        "peak_fp32_gflops": 123.4,
        "peak_bf16_gflops": None,
        "quick": True,
        "sections": sections,
        "section_seconds": {"train": 5.0},
    }


def test_markdown_has_the_environment_line_and_the_step_columns() -> None:
    rows = [
        {
            "table": "step",
            "path": "reference",
            "precision": "fp32",
            "batch": 1,
            "seconds_per_step": 0.5,
            "images_per_s": 2.0,
            "gflop": 40.0,
            "gflops": 80.0,
            "percent_of_peak": 64.83,
        },
        {"table": "step", "path": "bf16", "precision": "bf16", "batch": 1, "percent_of_peak": None},
    ]
    md = run.render_markdown(_payload({"train": rows}))
    lines = md.splitlines()
    assert lines[0].startswith("torch 9.9, 2 threads, CPU Test CPU (2 cores), device cpu")
    assert "peak fp32 123.4 GFLOP/s, bf16 not measured" in lines[0]
    assert "## train (5 s)" in lines
    header = "| path | precision | batch | s/step | img/s | GFLOP/step | GFLOP/s | % of peak |"
    assert header in lines
    assert "| reference | fp32 | 1 | 0.5 | 2 | 40 | 80 | 64.8 |" in lines
    assert "| bf16 | bf16 | 1 | – | – | – | – | – |" in lines
    assert "× reference" not in md  # a column no row has is left out


def test_markdown_groups_tables_and_shows_errors() -> None:
    rows = [
        {"table": "step", "path": "default", "batch": 1, "images_per_s": 1.0},
        {"table": "profile", "op": "aten::conv", "ms_per_step": 3.0},
        {"table": "error", "error": "RuntimeError: boom"},
    ]
    md = run.render_markdown(_payload({"train": rows}))
    assert sum(line.startswith("|---|") for line in md.splitlines()) == 3  # three tables
    assert "| op (default fp32 step) | ms/step |" in md
    assert "RuntimeError: boom" in md


def test_options_add_the_peak_and_reject_unknown_sections(tmp_path: Path) -> None:
    o = run.parse_options(["--only", "train", "--out", str(tmp_path)])
    assert o.sections == ("peak", "train")
    assert o.batch_sizes == (1, 8)
    assert run.parse_options(["--quick"]).batch_sizes == (1,)
    assert run.parse_options(["--device", "cuda"]).batch_sizes == (1, 8, 32)
    assert run.parse_options(["--only", "data", "--batch-sizes", "2,4"]).batch_sizes == (2, 4)
    assert run.parse_options(["--only", "frechet,data"]).sections == ("data", "frechet")
    with pytest.raises(SystemExit):
        run.parse_options(["--only", "nope"])


def test_conv_layer_inputs_follow_the_call_order() -> None:
    from reference_models import build_generator

    net = build_generator("unet32", ngf=4).eval()
    layers = run.conv_layer_inputs(net, torch.randn(1, 3, 32, 32))
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(layers) == len(convs)
    assert layers[0][2] == (1, 3, 32, 32)
    assert layers[1][2] == (1, 4, 16, 16)
    assert isinstance(layers[-1][1], torch.nn.ConvTranspose2d)
    assert layers[-1][2][-1] == 16  # the last up-convolution doubles 16 → 32


def test_reference_step_updates_both_networks() -> None:
    from p2pbench.data import Batch
    from reference_models import build_discriminator, build_generator

    g = build_generator("unet32", seed=0, ngf=4).train()
    d = build_discriminator("patch70", seed=1, in_channels=6, ndf=4).train()

    def adam(net: torch.nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))

    models = run.ReferenceModels(g, d, adam(g), adam(d))
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    run.reference_step(models, Batch(x, -x, None, ("a", "b")), "cpu")
    assert all(not torch.equal(a, b) for a, b in zip(before_g, g.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, d.parameters(), strict=True))


def test_cityscapes_like_folder_loads(tmp_path: Path) -> None:
    from p2pbench.data import build_dataset

    run.write_cityscapes_like(tmp_path, 2, width=128, height=64)
    data = build_dataset(
        "cityscapes", "train", size=32, direction=None, seed=0, data_root=str(tmp_path),
        n=None, labels=False,
    )  # fmt: skip
    assert len(data) == 2
    assert data[0].input.shape == (3, 32, 32)
    assert run.loader_images_per_s(data, workers=0, epochs=1) > 0


def test_main_quick_peak_writes_json_and_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = run.ConvShape("tiny 3→8 4×4/2 @32", 3, 8, 4, 2, 1, 32, 32)
    monkeypatch.setattr(run, "QUICK_PEAK_SHAPES", [shape])
    monkeypatch.setattr(run, "MATMUL_SIZE", 64)
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))  # keep the thread count
    assert run.main(["--quick", "--only", "peak", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "run-cpu.json").read_text())
    assert list(payload["sections"]) == ["peak"]
    fp32 = [r for r in payload["sections"]["peak"] if r["precision"] == "fp32"]
    assert [r["op"] for r in fp32] == ["conv2d", "matmul"]
    assert fp32[0]["gflop"] * 1e9 == pytest.approx(conv_flops(1, 3, 8, 4, 16, 16))
    assert fp32[1]["gflop"] * 1e9 == pytest.approx(2 * 64**3)
    assert payload["peak_fp32_gflops"] == max(r["gflops"] for r in fp32)
    assert max(r["percent_of_peak"] for r in fp32) == pytest.approx(100.0)
    assert payload["environment"]["threads"] == torch.get_num_threads()
    markdown = (tmp_path / "run-cpu.md").read_text()
    assert "## peak" in markdown and "| dtype | op | shape |" in markdown
    assert f"fp32 {payload['peak_fp32_gflops']:.1f} GFLOP/s" in markdown.splitlines()[0]
    assert markdown.strip() in capsys.readouterr().out


@pytest.mark.slow
def test_the_encoder_benchmark_measures_in_a_fresh_process_and_reports_errors() -> None:
    from benchmarks.bench_encoders import measure

    row = measure("vgg16-fc2", "cpu", 1, 1)
    assert row["dim"] == 4096 and row["mode"] == "torch-fidelity"
    assert float(row["images_per_s"]) > 0 and float(row["peak_rss_mib"]) > 500  # 528 MB weights
    assert "error" in measure("no-such-encoder", "cpu", 1, 1)
    md = run.render_markdown(_payload({"encoders": [{**row, "table": "encoders"}]}))
    assert "| encoder | mode | dim | batch |" in md
