"""The `tracker` command line. User mistakes end as one clear line and a non-zero exit."""

from __future__ import annotations

import logging.config
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import alembic.util.exc
import click
import pydantic
import sqlalchemy.exc

from tracker.bootstrap import App, bootstrap
from tracker.domain.errors import DomainError
from tracker.store import ConcurrencyError, StoreError


class UserError(click.ClickException):
    """A mistake the user can fix; shown without a traceback."""


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one line on stderr instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracker.seeding import SeedError

        try:
            return func(*args, **kwargs)
        except (DomainError, StoreError, SeedError, FileNotFoundError) as error:
            raise UserError(_one_line(error)) from None
        except pydantic.ValidationError as error:  # a bad TRACKER_* setting
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise UserError(f"invalid setting (TRACKER_* environment or .env): {problems}") from None
        except sqlalchemy.exc.ArgumentError as error:  # includes an unknown dialect in the URL
            raise UserError(f"invalid TRACKER_DATABASE_URL: {_one_line(error)}") from None
        except alembic.util.exc.CommandError as error:
            raise UserError(f"migration failed: {_one_line(error)}") from None
        except sqlalchemy.exc.DBAPIError as error:
            detail = _one_line(error.orig)
            if "no such table" in detail or "does not exist" in detail:
                detail += " (run `tracker db upgrade` first)"
            raise UserError(f"database error: {detail}") from None

    return wrapper


def _one_line(error: BaseException | None) -> str:
    """Driver messages can span lines; the user gets one."""
    return " ".join(str(error).split())


def _app() -> App:
    return bootstrap()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Policy Tracker: claims and predictions from published articles, held to account by the evidence."""


# ---- db -------------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest (safe to repeat)."""
    from tracker.store.migrate import upgrade

    url = _app().settings.database_url
    upgrade(url)
    click.echo(f"database at head: {_redact(url)}")


def _redact(url: str) -> str:
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


# ---- seed -----------------------------------------------------------------------------------------

@main.command("seed")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@friendly
def seed_command(path: Path | None) -> None:
    """Load the source and propositions from PATH (default: seeds/). A second run adds nothing."""
    from tracker.seeding import seed

    app = _app()
    result = seed(
        app.tracker, path or Path(app.settings.seeds_dir), article_dir=Path(app.settings.article_dir),
        progress=lambda pid: click.echo(f"  + {pid}"),
    )
    click.echo(
        f"seeded: {result.sources_added} source(s) and {result.propositions_added} proposition(s) added, "
        f"{result.propositions_present} already present"
    )
    if result.propositions_added:
        from tracker.service.suggestions import backfill

        added = backfill(app.tracker, app.settings, result.added_ids)
        click.echo(f"backfill: {added} suggestion(s) from evidence already in the store")


# ---- serve ----------------------------------------------------------------------------------------

@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; run no scheduled jobs.")
@friendly
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the HTTP API (and the scheduler). An empty store is migrated and seeded first."""
    import uvicorn

    from tracker.api.app import create_app
    from tracker.api.serving import log_config, uvicorn_options
    from tracker.seeding import seed
    from tracker.store.migrate import upgrade

    logging.config.dictConfig(log_config())  # before the store opens: its startup notes are shown too
    app = _app()
    upgrade(app.settings.database_url)
    seeds_dir = Path(app.settings.seeds_dir)
    if app.store.head() == 0 and not (seeds_dir / "propositions.yaml").is_file():
        click.echo(f"empty store and no seed files in {seeds_dir}/: serving an empty tracker", err=True)
    elif app.store.head() == 0:
        try:
            result = seed(app.tracker, seeds_dir, article_dir=Path(app.settings.article_dir))
            click.echo(f"empty store: seeded {result.propositions_added} propositions")
        except ConcurrencyError:  # several replicas started on one empty store: another one is seeding
            click.echo("empty store: another replica is seeding it")
    from tracker.api.users import first_admin_token

    token = first_admin_token(app.store.engine)
    if token is not None:
        click.echo(f"no users yet: created user 'admin'; its token (shown only this once): {token}")
    elector = None
    if not no_scheduler:
        from tracker.leader import LeaderElector
        from tracker.scheduler import build_scheduler

        scheduler = build_scheduler(app.tracker, app.settings)
        scheduler.start(paused=True)  # jobs run only while this replica is the leader
        elector = LeaderElector(app.store.engine, on_elected=scheduler.resume, on_deposed=scheduler.pause,
                                interval=app.settings.leader_interval_seconds)
        elector.start()
        click.echo(f"scheduler: {len(scheduler.get_jobs())} job(s), running while this replica leads")
    click.echo(f"serving on http://{host}:{port} (docs at /docs)")
    try:
        api = create_app(app.store, app.settings, app.tracker)
        api.state.elector = elector  # GET /health reports whether this replica leads
        # Timeouts, limits and the token-redacting access log: see tracker/api/serving.py.
        uvicorn.run(api, host=host, port=port, **uvicorn_options())
    finally:
        if elector is not None:
            elector.stop()


# ---- users (issue 4) -------------------------------------------------------------------------------

@main.group()
def users() -> None:
    """API users and their bearer tokens (only a hash of each token is stored)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["reader", "editor", "auditor", "admin"]))
@friendly
def users_add(name: str, role: str) -> None:
    """Create user NAME with ROLE and print its new token once."""
    from tracker.api.users import add_user
    from tracker.domain.user import InvalidUser

    try:
        token = add_user(_app().store.engine, name, role)
    except InvalidUser as error:
        raise UserError(str(error)) from None
    click.echo(token)
    click.echo(f"user {name} ({role}) created; the token above is shown only once", err=True)


@users.command("revoke")
@click.argument("name")
@friendly
def users_revoke(name: str) -> None:
    """Revoke NAME's token (a later `users add NAME` issues a new one)."""
    from tracker.api.users import revoke_user

    if not revoke_user(_app().store.engine, name):
        raise UserError(f"no active user {name}")
    click.echo(f"user {name} revoked")


@users.command("list")
@friendly
def users_list() -> None:
    """Users, roles and when they were created or revoked."""
    from tracker.api.users import list_users

    for name, role, created, revoked in list_users(_app().store.engine):
        click.echo(f"{name:20} {role:8} created {created}" + (f" revoked {revoked}" if revoked else ""))


# ---- intake: candidate propositions in an article (issue 4) ----------------------------------------

@main.command("extract")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--published", type=click.DateTime(["%Y-%m-%d"]), help="Publication date (anchors horizons).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per candidate (no sentence text).")
@friendly
def extract_command(file: Path, published: Any, as_json: bool) -> None:
    """Print the candidate propositions found in a text file: kind, hedge, actors, span, sentence."""
    import json

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


# ---- feeds and ingestion --------------------------------------------------------------------------

@main.command("ingest")
@click.option("--feed", "feed_name", help="Only this feed (its name or id).")
@friendly
def ingest(feed_name: str | None) -> None:
    """One ingestion pass now over every enabled feed (due or not), with a summary."""
    from tracker.ingest.runner import enabled_feed_ids, feed_id_for, ingest_pass, load_and_sync

    app = _app()
    load_and_sync(app.tracker, app.settings)
    feed_ids = enabled_feed_ids(app.tracker)
    if feed_name is not None:
        wanted = feed_id_for(feed_name)
        if wanted not in feed_ids:
            raise UserError(f"no enabled feed named {feed_name!r} (see `tracker feeds list`)")
        feed_ids = [wanted]
    with click.progressbar(length=len(feed_ids), label="fetching feeds", file=sys.stderr,
                           item_show_func=lambda o: o.feed_id if o else "") as bar:
        summary = ingest_pass(app.tracker, app.settings, feed_ids=feed_ids, on_feed=lambda o: bar.update(1, o))
    for outcome in summary.outcomes:
        if outcome.error:
            click.echo(f"  {outcome.feed_id}: {outcome.result}: {outcome.error}", err=True)
    click.echo(summary.line())


@main.group()
def feeds() -> None:
    """News feeds (configured in feeds/feeds.toml)."""


@feeds.command("list")
@friendly
def feeds_list() -> None:
    """Each feed's state: last fetch, HTTP status, error count, next check, items."""
    import sqlalchemy as sa

    from tracker.ingest import fetchstate
    from tracker.ingest.runner import load_and_sync
    from tracker.projections.tables import feeds as feeds_table

    app = _app()
    load_and_sync(app.tracker, app.settings)
    with app.store.engine.connect() as connection:
        rows = connection.execute(sa.select(feeds_table).order_by(feeds_table.c.feed_id)).all()
        states = fetchstate.load_all(connection)
    header = f"{'feed':32} {'on':3} {'last fetch':20} {'http':4} {'err':3} {'next check':20} {'items':>5}"
    click.echo(header)
    for row in rows:
        state = states.get(row.feed_id) or fetchstate.FetchState(row.feed_id)
        click.echo(
            f"{row.feed_id[:32]:32} {'yes' if row.enabled else 'no':3} {(state.last_fetch_at or '-')[:19]:20} "
            f"{state.last_status or '-':>4} {state.error_count:>3} {(state.next_check_at or 'now')[:19]:20} "
            f"{state.items_total:>5}"
        )
        if not row.enabled and row.disabled_reason:
            click.echo(f"    disabled: {row.disabled_reason}")
        elif state.last_error:
            click.echo(f"    last error: {state.last_error}")


@feeds.command("enable")
@click.argument("name")
@friendly
def feeds_enable(name: str) -> None:
    """Re-enable a disabled feed (its back-off is forgotten; it is polled at the next pass)."""
    from tracker.ingest.runner import enable_feed, feed_id_for
    from tracker.service.unit_of_work import NotFound

    app = _app()
    feed_id = feed_id_for(name)
    try:
        with app.tracker.unit_of_work(actor="user:cli", correlation_id="cli:feeds-enable") as uow:
            recorded = enable_feed(uow, feed_id, reason="re-enabled from the command line")
    except NotFound:
        raise UserError(f"no feed named {name!r} (see `tracker feeds list`)") from None
    click.echo(f"{feed_id}: {'enabled' if recorded else 'was already enabled'}; it will be polled at the next pass")


# ---- audit ----------------------------------------------------------------------------------------

@main.group()
def audit() -> None:
    """Check and rebuild from the event history."""


def _bar(total: int, label: str) -> Any:
    return click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)


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
    from tracker.audit.checks import verify_log

    app = _app()
    with _bar(app.store.head(), "verifying") as bar:
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
def audit_replay(check: bool, to_position: int | None, as_of: Any, as_json: bool) -> None:
    """Drop and rebuild every read model from the events (or, with --as-of, print the state at a time)."""
    from tracker.projections import rebuild

    app = _app()
    if as_of is not None:
        _print_as_of(app, as_of, as_json)
        return
    total = to_position or app.store.head()
    if check:
        with _bar(total, "replaying into scratch") as bar:
            differences = rebuild.check(app.store, progress=bar.update)
        if differences:
            for line in differences[:100]:
                click.echo(line)
            click.echo(f"{len(differences)} difference(s) between live read models and replay", err=True)
            sys.exit(1)
        click.echo("read models match a replay of the events")
        return
    with _bar(total, "replaying") as bar:
        count = rebuild.replay(app.store, to=to_position, progress=bar.update)
    click.echo(f"read models rebuilt from {count} events")


# ---- audit: checkpoints, proofs, export (issue 5) -------------------------------------------------

def _audit_key(app: App) -> Any:
    from tracker.audit.checkpoint import load_or_create_key

    return load_or_create_key(app.settings.audit_key_file)


def _as_checkpoint_size(app: App, size: int) -> Any:
    from tracker.audit.checkpoint import checkpoints

    recorded = checkpoints(app.store)
    for _, checkpoint in reversed(recorded):
        if checkpoint.size == size:
            return checkpoint
    sizes = ", ".join(str(c.size) for _, c in recorded) or "none yet"
    raise UserError(f"no checkpoint of size {size} (recorded sizes: {sizes})")


@audit.command("checkpoint")
@friendly
def audit_checkpoint() -> None:
    """Sign the log as it stands (size, RFC 6962 Merkle root, last hash) with the Ed25519 key and record it."""
    import json

    from tracker.audit.checkpoint import record_checkpoint

    app = _app()
    position, checkpoint = record_checkpoint(app.tracker, _audit_key(app))
    click.echo(json.dumps(checkpoint.to_dict(), indent=2))
    click.echo(f"checkpoint over positions 1..{checkpoint.size} recorded at position {position}")
    click.echo(f"public key {checkpoint.public_key} (key_id {checkpoint.key_id}, file {app.settings.audit_key_file})")


@audit.command("prove")
@click.argument("position", type=int)
@friendly
def audit_prove(position: int) -> None:
    """Print (as JSON) and check the inclusion proof of the event at POSITION in the latest checkpoint."""
    import json

    from tracker.audit.checkpoint import latest_checkpoint
    from tracker.audit.proofs import prove_inclusion

    app = _app()
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
    import json

    from tracker.audit.checkpoint import latest_checkpoint
    from tracker.audit.proofs import prove_consistency

    app = _app()
    if new is None:
        latest = latest_checkpoint(app.store)
        if latest is None:
            raise UserError("no checkpoint yet: run `tracker audit checkpoint` first")
        new_checkpoint = latest[1]
    else:
        new_checkpoint = _as_checkpoint_size(app, new)
    proof = prove_consistency(app.store, _as_checkpoint_size(app, old), new_checkpoint)
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
    from tracker.audit.export import write_export

    app = _app()
    with _bar(app.store.head(), "exporting") as bar:
        position, checkpoint, created = write_export(app.tracker, out, _audit_key(app), progress=bar.update)
    made = "new checkpoint" if created else "latest checkpoint"
    click.echo(f"exported {position} events to {out}; {made} over positions 1..{checkpoint.size}, "
               f"public key {checkpoint.public_key}")


def _verify_export(path: Path, public_key: str | None) -> None:
    from tracker.audit.offline import verify_file

    report = verify_file(path, public_key)
    if report.ok:
        click.echo(report.describe())
        return
    click.echo(report.describe(), err=True)
    sys.exit(1)


def _print_as_of(app: App, as_of: Any, as_json: bool) -> None:
    import json
    from dataclasses import asdict
    from datetime import UTC

    from tracker.projections.asof import propositions_as_of
    from tracker.store.envelope import iso

    stamp = iso(as_of.replace(tzinfo=UTC))
    count = 0
    with _bar(app.store.head(), f"replaying as of {stamp}") as bar:
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


# ---- subscribers and digest (issue 6): the commands live in tracker/digest/commands.py ------------

def _register_digest_commands() -> None:
    from tracker.digest.commands import register

    register(main, friendly, UserError, _app)


_register_digest_commands()


if __name__ == "__main__":
    main()
