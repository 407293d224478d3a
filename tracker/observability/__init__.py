"""Metrics (Prometheus) and JSON logs: what an operator watches. Sits at the config layer: it imports no other
part of the tracker but the settings, and every layer may report to it."""
