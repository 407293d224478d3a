"""`tracker audit ...`: check the hash chain, sign checkpoints, prove, export, and rebuild from the events."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from tracker.audit.checkpoint import Checkpoint, checkpoints, latest_checkpoint, load_or_create_key, record_checkpoint
from tracker.audit.checks import verify_log
from tracker.audit.export import write_export
from tracker.audit.offline import verify_file
from tracker.audit.proofs import prove_consistency, prove_inclusion
from tracker.bootstrap import App
from tracker.cli.common import UserError, friendly, open_store, progress
from tracker.projections import rebuild
from tracker.projections.asof import propositions_as_of
from tracker.store.envelope import iso


@click.group()
def audit() -> None:
    """Check and rebuild from the event history."""


@audit.command("verify")
@click.option("--file", "export_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Check an export (from `audit export`) offline, with no database.")
@click.option("--public-key", help="Pin the checkpoint signer's Ed25519 public key (64 hex digits).")
@friendly
def audit_verify(export_file: Path | None, public_key: str | None) -> None:
    """Recompute the hash chain and check every signed checkpoint; exit 1 and name the first broken position."""
    if export_file is not None:
        _verify_export(export_file, public_key)
        return
    app = open_store()
    with progress(app.store.head(), "verifying") as bar:
        result = verify_log(app.store, trusted_key=public_key, progress=bar.update)
    if result.ok:
        click.echo(f"chain intact: {result.checked} events, head at position {result.head}; "
                   f"{result.checkpoints_verified} signed checkpoint(s) verified")
        return
    click.echo(f"chain broken at position {result.broken_at}: {result.reason}", err=True)
    sys.exit(1)


@audit.command("replay")
@click.option("--check", is_flag=True, help="Rebuild in a scratch area and report differences (exit 1).")
@click.option("--to", "to_position", type=int, help="Stop at this position.")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ",
              "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
              help="Print every proposition as recorded at this UTC time (read-only: live read models untouched).")
@click.option("--json", "as_json", is_flag=True, help="With --as-of: one JSON object per proposition.")
@friendly
def audit_replay(check: bool, to_position: int | None, as_of: datetime | None, as_json: bool) -> None:
    """Drop and rebuild every read model from the events (or, with --as-of, print the state at a time)."""
    app = open_store()
    if as_of is not None:
        _print_as_of(app, as_of, as_json)
        return
    total = to_position or app.store.head()
    if check:
        with progress(total, "replaying into scratch") as bar:
            differences = rebuild.check(app.store, progress=bar.update)
        if differences:
            for line in differences[:100]:
                click.echo(line)
            click.echo(f"{len(differences)} difference(s) between live read models and replay", err=True)
            sys.exit(1)
        click.echo("read models match a replay of the events")
        return
    with progress(total, "replaying") as bar:
        count = rebuild.replay(app.store, to=to_position, progress=bar.update)
    click.echo(f"read models rebuilt from {count} events")


@audit.command("checkpoint")
@friendly
def audit_checkpoint() -> None:
    """Sign the log as it stands (size, RFC 6962 Merkle root, last hash) with the Ed25519 key and record it."""
    app = open_store()
    position, checkpoint = record_checkpoint(app.tracker, load_or_create_key(app.settings.audit_key_file))
    click.echo(json.dumps(checkpoint.to_dict(), indent=2))
    click.echo(f"checkpoint over positions 1..{checkpoint.size} recorded at position {position}")
    click.echo(f"public key {checkpoint.public_key} (key_id {checkpoint.key_id}, file {app.settings.audit_key_file})")


@audit.command("prove")
@click.argument("position", type=int)
@friendly
def audit_prove(position: int) -> None:
    """Print (as JSON) and check the inclusion proof of the event at POSITION in the latest checkpoint."""
    app = open_store()
    latest = latest_checkpoint(app.store)
    if latest is None:
        raise UserError("no checkpoint yet: run `tracker audit checkpoint` first")
    proof = prove_inclusion(app.store, position, latest[1])
    click.echo(json.dumps(proof, indent=2))
    if not proof["verified"]:
        click.echo(f"the proof for position {position} does NOT verify against the checkpoint", err=True)
        sys.exit(1)
    click.echo(f"verified: position {position} is in the signed log of {latest[1].size} events", err=True)


@audit.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@friendly
def audit_consistency(old: int, new: int | None) -> None:
    """Prove the log at checkpoint OLD is a prefix of the log at checkpoint NEW.

    OLD and NEW are checkpoint sizes (the `size` field an auditor holds, i.e. a number of events), not
    positions of the checkpoint events; NEW defaults to the latest checkpoint.
    """
    app = open_store()
    if new is None:
        latest = latest_checkpoint(app.store)
        if latest is None:
            raise UserError("no checkpoint yet: run `tracker audit checkpoint` first")
        new_checkpoint = latest[1]
    else:
        new_checkpoint = _checkpoint_of_size(app, new)
    proof = prove_consistency(app.store, _checkpoint_of_size(app, old), new_checkpoint)
    click.echo(json.dumps(proof, indent=2))
    if not proof["verified"]:
        click.echo("the consistency proof does NOT verify", err=True)
        sys.exit(1)
    click.echo(f"verified: the log of {old} events is a prefix of the log of {new_checkpoint.size}", err=True)


@audit.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@friendly
def audit_export(out: Path) -> None:
    """Write every event as NDJSON (exact hashed text) plus a final signed checkpoint line."""
    app = open_store()
    with progress(app.store.head(), "exporting") as bar:  # the key after head(): a missing table creates no key
        key = load_or_create_key(app.settings.audit_key_file)
        position, checkpoint, created = write_export(app.tracker, out, key, progress=bar.update)
    made = "new checkpoint" if created else "latest checkpoint"
    click.echo(f"exported {position} events to {out}; {made} over positions 1..{checkpoint.size}, "
               f"public key {checkpoint.public_key}")


def _checkpoint_of_size(app: App, size: int) -> Checkpoint:
    """Auditors name checkpoints by size; the latest one of that size wins."""
    recorded = checkpoints(app.store)
    for _, checkpoint in reversed(recorded):
        if checkpoint.size == size:
            return checkpoint
    sizes = ", ".join(str(c.size) for _, c in recorded) or "none yet"
    raise UserError(f"no checkpoint of size {size} (recorded sizes: {sizes})")


def _verify_export(path: Path, public_key: str | None) -> None:
    report = verify_file(path, public_key)
    if report.ok:
        click.echo(report.describe())
        return
    click.echo(report.describe(), err=True)
    sys.exit(1)


def _print_as_of(app: App, as_of: datetime, as_json: bool) -> None:
    stamp = iso(as_of.replace(tzinfo=UTC))
    count = 0
    with progress(app.store.head(), f"replaying as of {stamp}") as bar:
        states = list(propositions_as_of(app.store, stamp, progress=bar.update))
    for state, version, recorded_at in states:
        count += 1
        counts = state.counts()
        if as_json:
            click.echo(json.dumps({"as_of": stamp, "version": version, "last_recorded_at": recorded_at,
                                   "counts": counts, "state": asdict(state)}, sort_keys=True, ensure_ascii=False))
        else:
            outcome = (state.resolution or {}).get("outcome", "-")
            click.echo(f"{state.proposition_id}\t{state.status}\tv{version}\tsupports={counts['supports']} "
                       f"contradicts={counts['contradicts']} context={counts['context']} "
                       f"awaiting={counts['awaiting_review']}\tresolution={outcome}")
    click.echo(f"{count} proposition(s) as of {stamp}", err=True)
