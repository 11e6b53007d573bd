"""`python -m p2pbench` runs the command line."""

from p2pbench.cli import main

main()
