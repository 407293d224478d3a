"""Read models: tables derived from the events, updated in the append's transaction, rebuildable."""
