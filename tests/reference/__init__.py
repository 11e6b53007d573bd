"""Independent reference implementations and fixture writers the tests compare against.

`tests/` is on pytest's `pythonpath`, so tests import these as `reference.<module>`; the
`make_*_goldens.py` scripts here still run standalone (`python tests/reference/...`).
"""
