"""The queuectl performance harness (issue 5): `python -m benchmarks --help`.

It starts real daemons in temporary homes, measures them against the raw cost
of spawning `sh -c true`, prints a table and writes JSON. See README.md.
"""
