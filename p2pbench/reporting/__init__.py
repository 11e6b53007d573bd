"""Renderings of result files: tables and their formats, the terminal text, the CI check."""
