"""Shared fixtures for the FCN tests: the independent caffemodel writer and a tiny network."""

from __future__ import annotations

from types import ModuleType

import pytest
from reference import caffemodel_writer

from fcn.fcn8s import FCN8sArch

# Real layer names, widths small enough for a test to write and read in milliseconds.
TINY = FCN8sArch(num_classes=20, channels=(4, 8, 8, 16, 16), fc_channels=16)


@pytest.fixture(scope="session")
def writer() -> ModuleType:
    return caffemodel_writer


@pytest.fixture(scope="session")
def tiny_arch() -> FCN8sArch:
    return TINY


@pytest.fixture(scope="session")
def tiny_layers(writer: ModuleType) -> list:
    return writer.fcn8s_layers(TINY.channels, TINY.fc_channels, TINY.num_classes)
