"""Pure domain logic: commands in, events out; state is a fold over events. No I/O here."""
