"""Command handlers: load a stream, decide, append events and read models in one transaction."""
