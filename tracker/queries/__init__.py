"""Reads: SQL over the read models (and the operational tables), returning plain dataclasses.

Nothing here writes. The API maps these results to its response schemas; the CLI may print them.
"""
