"""`tracker serve`: bootstrap the server (tracker/bootstrap.py), then run it."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.bootstrap import bootstrap_server
from tracker.cli.common import friendly
from tracker.config import get_settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; run no scheduled jobs.")
@friendly
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the HTTP API (and the scheduler). An empty store is migrated and seeded first."""
    import uvicorn  # only serving needs it; see bootstrap_server

    from tracker.api.serving import uvicorn_options

    if not no_scheduler:
        _check_feeds_file()  # before anything starts or is printed: a mistake in it is the only line shown
    server = bootstrap_server(with_scheduler=not no_scheduler, echo=click.echo)
    server.start()
    if server.scheduler is not None:
        click.echo(f"scheduler: {len(server.scheduler.get_jobs())} job(s), running while this replica leads")
    click.echo(f"serving on http://{host}:{port} (docs at /docs)")
    try:
        # Timeouts, limits and the token-redacting access log: see tracker/api/serving.py.
        uvicorn.run(server.api, host=host, port=port, **uvicorn_options())
    finally:
        server.stop()


def _check_feeds_file() -> None:
    """Read feeds.toml once up front; FeedConfigError (one line, via `friendly`) names every problem in it."""
    from tracker.ingest.feeds_config import load_feeds

    settings = get_settings()
    path = Path(settings.feeds_file)
    if path.is_file():
        load_feeds(path, allow_private=settings.allow_private_feeds)
