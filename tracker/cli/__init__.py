"""The `tracker` command line: one module per command group, wired by tracker/bootstrap.py.

User mistakes end as one clear line and a non-zero exit (tracker/cli/common.py).
"""

from __future__ import annotations

import click

from tracker.cli import audit, db, digest, extract, ingest, review, seed, serve, subscribers, users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Policy Tracker: claims and predictions from published articles, held to account by the evidence."""


for command in (db.db, seed.seed_command, serve.serve, users.users, extract.extract_command, ingest.ingest,
                ingest.feeds, audit.audit, subscribers.subscribers, digest.digest, review.review_group):
    main.add_command(command)
