"""Policy Tracker: an event-sourced ledger of published claims and predictions."""
