"""p2pbench's version, written here only: pyproject.toml and `p2pbench.__version__` read it.

Bump it with every release and add the release's section to CHANGELOG.md. The exact code a
result came from (this version plus the git commit) is `p2pbench.provenance.code_version()`.
"""

__version__ = "0.2.0"
