"""`tracker extract`: candidate propositions in an article (no database)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from tracker.cli.common import UserError, friendly


@click.command("extract")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--published", type=click.DateTime(["%Y-%m-%d"]), help="Publication date (anchors horizons).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per candidate (no sentence text).")
@friendly
def extract_command(file: Path, published: datetime | None, as_json: bool) -> None:
    """Print the candidate propositions found in a text file: kind, hedge, actors, span, sentence."""
    # The extractor's compiled patterns and word lists (~25 ms) load for this command only, not for --help.
    from tracker.extract import MAX_TEXT, extract
    from tracker.extract.render import lines

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{file} is not UTF-8 text") from None
    if len(text) > MAX_TEXT:
        raise UserError(f"{file} has {len(text)} characters; the limit is {MAX_TEXT}")
    found = extract(text, published.date() if published else None)
    for line in ([json.dumps(c.as_dict()) for c in found] if as_json else lines(text, found)):
        click.echo(line)
