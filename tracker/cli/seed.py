"""`tracker seed`: sources and propositions from YAML files."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.cli.common import friendly, open_store
from tracker.seeding import seed


@click.command("seed")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@friendly
def seed_command(path: Path | None) -> None:
    """Load the source and propositions from PATH (default: seeds/). A second run adds nothing, except the seed's
    written examples to profiles registered before they existed (once)."""
    app = open_store()
    result = seed(
        app.tracker, path or Path(app.settings.seeds_dir), article_dir=Path(app.settings.article_dir),
        progress=lambda pid: click.echo(f"  + {pid}"),
    )
    click.echo(
        f"seeded: {result.sources_added} source(s) and {result.propositions_added} proposition(s) added, "
        f"{result.propositions_present} already present"
    )
    if result.given_examples:
        click.echo(f"written examples added to {len(result.given_examples)} existing profile(s)")
    if result.given_broader:
        click.echo(f"broader propositions declared on {len(result.given_broader)} existing profile(s)")
    amended = tuple(dict.fromkeys((*result.given_examples, *result.given_broader)))
    if result.propositions_added or amended:
        # The matcher (numpy, word vectors: ~60 ms) loads only when there is something to match.
        from tracker.suggestions import backfill

        added = backfill(app.tracker, app.settings, (*result.added_ids, *amended))
        click.echo(f"backfill: {added} suggestion(s) from evidence already in the store")
