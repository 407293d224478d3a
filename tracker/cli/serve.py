"""`tracker serve`: bootstrap the server (tracker/bootstrap.py), then run it."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.bootstrap import bootstrap_server, prepare_server
from tracker.cli.common import UserError, friendly
from tracker.config import get_settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; run no scheduled jobs.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the port; one of them (the leader) runs the scheduled jobs.")
@friendly
def serve(host: str, port: int, no_scheduler: bool, workers: int) -> None:
    """Run the HTTP API (and the scheduler). An empty store is migrated and seeded first."""
    if not no_scheduler:
        _check_feeds_file()  # before anything starts or is printed: a mistake in it is the only line shown
    if workers > 1:
        _serve_workers(host, port, no_scheduler, workers)
        return
    import uvicorn  # only serving needs it; see bootstrap_server

    from tracker.api.serving import uvicorn_options

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


def _serve_workers(host: str, port: int, no_scheduler: bool, workers: int) -> None:
    """Migrate and seed once here, then run `workers` processes that each build the app (tracker/bootstrap.py)."""
    from tracker.api.serving import WORKER_APP, WORKER_APP_WITHOUT_SCHEDULER, multiprocess_metrics_dir, run_workers

    prepare_server(with_scheduler=not no_scheduler, echo=click.echo)
    if not no_scheduler:
        click.echo(f"scheduler: in each of the {workers} workers, running in the one that leads")
    click.echo(f"serving on http://{host}:{port} with {workers} workers (docs at /docs)")
    with multiprocess_metrics_dir():
        started = run_workers(WORKER_APP_WITHOUT_SCHEDULER if no_scheduler else WORKER_APP, host=host, port=port,
                              workers=workers)
    if not started:
        raise UserError("a worker failed to start (its error is logged above); stopped every worker")


def _check_feeds_file() -> None:
    """Read feeds.toml once up front; FeedConfigError (one line, via `friendly`) names every problem in it."""
    from tracker.ingest.feeds_config import load_feeds

    settings = get_settings()
    path = Path(settings.feeds_file)
    if path.is_file():
        load_feeds(path, allow_private=settings.allow_private_feeds)
