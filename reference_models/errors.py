"""Errors of the reference networks' files."""

from __future__ import annotations

from p2pbench.errors import BadInputError


class CheckpointError(BadInputError, ValueError):
    """A checkpoint file is missing, unreadable, or fits no known architecture."""
