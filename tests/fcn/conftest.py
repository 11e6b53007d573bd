"""Shared fixtures for the FCN tests: the independent caffemodel writer and a tiny network."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fcn.fcn8s import FCN8sArch

WRITER_PATH = Path(__file__).resolve().parents[1] / "reference" / "caffemodel_writer.py"

# Real layer names, widths small enough for a test to write and read in milliseconds.
TINY = FCN8sArch(num_classes=20, channels=(4, 8, 8, 16, 16), fc_channels=16)


def _load_writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("caffemodel_writer", WRITER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["caffemodel_writer"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def writer() -> ModuleType:
    return _load_writer()


@pytest.fixture(scope="session")
def tiny_arch() -> FCN8sArch:
    return TINY


@pytest.fixture(scope="session")
def tiny_layers(writer: ModuleType) -> list:
    return writer.fcn8s_layers(TINY.channels, TINY.fc_channels, TINY.num_classes)
