"""`python -m tracker.cli`, as the tests and benchmarks run it."""

from tracker.cli import main

main()
