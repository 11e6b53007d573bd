"""The records of an ablation's folder: the manifest (`plan.json`), a run's `ablation` block
and saved samples in its result, and the lines of its training log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pbench.records.common import (
    GROUND_TRUTH_LABEL,
    GROUND_TRUTH_VARIANT,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    TIMING_KEYS,
    RecordError,
    check_format,
    finite_number,
    int_or_none,
    need_keys,
    read_json,
)

# --------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    label: str


@dataclass(frozen=True)
class ManifestRun:
    """One planned training run: its id, variant, seed and full `TrainConfig` as a dict."""

    run_id: str
    variant: str
    seed: int
    config: dict[str, Any]


@dataclass(frozen=True)
class AblationManifest:
    """`plan.json`: the plan, its options, protocol, runs and fixed sample ids."""

    plan: str
    title: str
    reference_variant: str
    variants: tuple[PlannedVariant, ...]
    task: str | None = None
    paper_table: str | None = None
    protocol: str | None = None
    protocol_digest: str | None = None
    networks: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    refused: tuple[tuple[str, str], ...] = ()  # (variant, reason)
    runs: tuple[ManifestRun, ...] = ()
    sample_ids: tuple[str, ...] = ()
    bootstrap_draws: int = 1000
    bootstrap_seed: int = 0
    versions: dict[str, str] = field(default_factory=dict)

    VOLATILE = ("created", "command", "versions")
    """Keys that may differ between two manifests of the same plan (not what is computed)."""

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if not names or len(set(names)) != len(names):
            raise RecordError(
                f"ablation plan {self.plan!r}: variants must be a non-empty list of distinct "
                f"names, found {names}"
            )
        if self.reference_variant not in names:
            raise RecordError(
                f"ablation plan {self.plan!r}: reference_variant {self.reference_variant!r} is "
                f"not one of its variants {names}"
            )

    def label_of(self, variant: str) -> str:
        """The row label of `variant` (the name itself when the plan has no such variant)."""
        if variant == GROUND_TRUTH_VARIANT:
            return GROUND_TRUTH_LABEL
        return next((v.label for v in self.variants if v.name == variant), variant)

    def run(self, run_id: str) -> ManifestRun:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise RecordError(
            f"ablation plan {self.plan!r} has no run {run_id!r}; runs: "
            f"{', '.join(r.run_id for r in self.runs)}"
        )

    def identity(self) -> dict[str, Any]:
        """What two manifests of the same plan share (everything but `VOLATILE`)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.VOLATILE}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "plan": self.plan,
            "title": self.title,
            "task": self.task,
            "paper_table": self.paper_table,
            "reference_variant": self.reference_variant,
            "protocol": self.protocol,
            "protocol_digest": self.protocol_digest,
            "networks": self.networks,
            "options": dict(self.options),
            "variants": [{"name": v.name, "label": v.label} for v in self.variants],
            "refused": [{"variant": v, "reason": r} for v, r in self.refused],
            "runs": [
                {"run_id": r.run_id, "variant": r.variant, "seed": r.seed, "config": r.config}
                for r in self.runs
            ],
            "sample_ids": list(self.sample_ids),
            "bootstrap": {"draws": self.bootstrap_draws, "seed": self.bootstrap_seed},
            "versions": dict(self.versions),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "ablation plan") -> AblationManifest:
        d = need_keys(data, where, ("plan", "title", "reference_variant", "variants"))
        check_format(d, where, MANIFEST_FORMAT, MANIFEST_VERSION)
        try:
            variants = tuple(
                PlannedVariant(str(v["name"]), str(v.get("label") or v["name"]))
                for v in d["variants"]
            )
            runs = tuple(
                ManifestRun(
                    str(r["run_id"]), str(r["variant"]), int(r["seed"]), dict(r.get("config") or {})
                )
                for r in d.get("runs") or []
            )
            refused = tuple((str(r["variant"]), str(r["reason"])) for r in d.get("refused") or [])
            boot = d.get("bootstrap") or {}
            return cls(
                plan=str(d["plan"]),
                title=str(d["title"]),
                reference_variant=str(d["reference_variant"]),
                variants=variants,
                task=d.get("task"),
                paper_table=d.get("paper_table"),
                protocol=d.get("protocol"),
                protocol_digest=d.get("protocol_digest"),
                networks=d.get("networks"),
                options=dict(d.get("options") or {}),
                refused=refused,
                runs=runs,
                sample_ids=tuple(str(s) for s in d.get("sample_ids") or []),
                bootstrap_draws=int(boot.get("draws", 1000)),
                bootstrap_seed=int(boot.get("seed", 0)),
                versions=dict(d.get("versions") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, RecordError):
                raise RecordError(f"{where}: {e}") from None
            raise RecordError(f"{where}: malformed ({type(e).__name__}: {e})") from None


def read_manifest(path: str | Path) -> AblationManifest:
    """Read and validate `plan.json`."""
    return AblationManifest.from_dict(read_json(Path(path)), where=str(path))


# --------------------------------------------------------------------------- a run's record


@dataclass(frozen=True)
class FileRef:
    """A file a record points to: its path relative to the record's folder, and sha256."""

    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class SampleFiles:
    """The images saved for one fixed sample: `input`, `output` and/or `target`."""

    sample_id: str
    files: dict[str, FileRef]

    ROLES = ("input", "output", "target")

    def to_dict(self) -> dict[str, Any]:
        return {"sample_id": self.sample_id, **{k: f.to_dict() for k, f in self.files.items()}}

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> SampleFiles:
        d = need_keys(data, where, ("sample_id",))
        files = {}
        for role in cls.ROLES:
            if role in d:
                ref = need_keys(d[role], f"{where} {role}", ("path", "sha256"))
                files[role] = FileRef(str(ref["path"]), str(ref["sha256"]))
        return cls(str(d["sample_id"]), files)


@dataclass(frozen=True)
class AblationRun:
    """The `ablation` block of a result: which plan, variant and seed it is a run of.

    The ground truth's block has variant `ground-truth` and no seed, run id or checkpoint.
    """

    plan: str | None
    variant: str
    label: str
    seed: int | None = None
    run_id: str | None = None
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    steps: int | None = None

    @property
    def is_ground_truth(self) -> bool:
        return self.variant == GROUND_TRUTH_VARIANT

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"plan": self.plan, "variant": self.variant, "label": self.label}
        if not self.is_ground_truth:
            d.update(
                seed=self.seed,
                run_id=self.run_id,
                checkpoint=self.checkpoint,
                checkpoint_sha256=self.checkpoint_sha256,
                steps=self.steps,
            )
        return d

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "ablation block") -> AblationRun:
        d = need_keys(data, where, ("variant",))
        if not isinstance(d["variant"], str):
            raise RecordError(f"{where}: variant must be a string, found {d['variant']!r}")
        return cls(
            plan=None if d.get("plan") is None else str(d["plan"]),
            variant=d["variant"],
            label=str(d.get("label") or d["variant"]),
            seed=int_or_none(d.get("seed"), f"{where} seed"),
            run_id=None if d.get("run_id") is None else str(d["run_id"]),
            checkpoint=d.get("checkpoint"),
            checkpoint_sha256=d.get("checkpoint_sha256"),
            steps=int_or_none(d.get("steps"), f"{where} steps"),
        )


# --------------------------------------------------------------------------- training log


@dataclass(frozen=True)
class TrainingLogLine:
    """One line of a run's `log.jsonl`: the step, its epoch, the losses and the timing."""

    step: int
    epoch: int | None
    losses: dict[str, float]
    timing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, **self.losses, **self.timing}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "log line") -> TrainingLogLine:
        d = need_keys(data, where, ("step",))
        step = int_or_none(d["step"], f"{where} step")
        if step is None:
            raise RecordError(f"{where}: step is null")
        losses: dict[str, float] = {}
        timing: dict[str, float] = {}
        for key, value in d.items():
            if key in ("step", "epoch") or not finite_number(value):
                continue
            (timing if key in TIMING_KEYS else losses)[str(key)] = float(value)
        epoch = d.get("epoch")
        return cls(step, epoch if isinstance(epoch, int) else None, losses, timing)


def read_training_log(path: str | Path) -> tuple[list[TrainingLogLine], int]:
    """The lines of a `log.jsonl` and how many were not log lines (blank lines ignored)."""
    lines, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for i, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                lines.append(TrainingLogLine.from_dict(json.loads(text), where=f"{path}:{i}"))
            except (ValueError, RecordError):
                bad += 1
    return lines, bad
