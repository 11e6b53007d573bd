"""Errors of the reference networks' files."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or fits no known architecture."""
