"""Use cases: every write goes through unit_of_work.py (load, decide, append + read models in one transaction)."""
