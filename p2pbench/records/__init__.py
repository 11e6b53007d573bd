"""The typed records an ablation writes beside its results, read by reporting, tables and check.

Each record is a frozen dataclass with `from_dict` (validating, with errors that name the file
and the field) and `to_dict` (the JSON object, keys in the order the files have always had).
The files and their schema versions:

- `plan.json`: `AblationManifest`, format `p2pbench-ablation`, version 1;
- `summary.json`: `AblationSummary`, format `p2pbench-ablation-summary`, version 1;
- `result.json` of an ablation run: the result (`p2pbench.results`) with an `ablation` block
  (`AblationRun`) and the `samples` it saved (`SampleFiles`);
- `log.jsonl`: one `TrainingLogLine` per line.

Files written before these records existed have the same keys and read unchanged.
"""

from p2pbench.records.ablation import (
    AblationManifest,
    AblationRun,
    FileRef,
    ManifestRun,
    PlannedVariant,
    SampleFiles,
    TrainingLogLine,
    read_manifest,
    read_training_log,
)
from p2pbench.records.common import (
    GROUND_TRUTH_LABEL,
    GROUND_TRUTH_VARIANT,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    SUMMARY_FORMAT,
    SUMMARY_VERSION,
    TIMING_KEYS,
    RecordError,
)
from p2pbench.records.summary import (
    AblationSummary,
    Difference,
    SeedStats,
    SummaryRow,
    read_summary,
)

__all__ = [
    "GROUND_TRUTH_LABEL",
    "GROUND_TRUTH_VARIANT",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "SUMMARY_FORMAT",
    "SUMMARY_VERSION",
    "TIMING_KEYS",
    "AblationManifest",
    "AblationRun",
    "AblationSummary",
    "Difference",
    "FileRef",
    "ManifestRun",
    "PlannedVariant",
    "RecordError",
    "SampleFiles",
    "SeedStats",
    "SummaryRow",
    "TrainingLogLine",
    "read_manifest",
    "read_summary",
    "read_training_log",
]
