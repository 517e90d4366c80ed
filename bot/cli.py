"""The ``kpibot`` command line (typer): run, web, db, deal, chat, replay, demo, statement,
dashboard-link, export, restore, import."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.settings import Settings

if TYPE_CHECKING:
    from handlers.statement import StatementView
    from kpi.errors import DealFileError
    from kpi.export import Sheet
    from kpi.model import Deal

app = typer.Typer(
    help="kpibot: the KPI ledger bot for a seller and its TikTok Shop agency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
deal_app = typer.Typer(help="Deals: contract as code.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(deal_app, name="deal")
tiktok_app = typer.Typer(
    help="TikTok Shop Open API: link a deal's shop, sync its figures.", no_args_is_help=True
)
app.add_typer(tiktok_app, name="tiktok")


def deal_error_text(exc: DealFileError) -> str:
    """A rejected deal file's problems as ``file:line: key: problem``, in the file's language.

    Problems with a catalog rendering (the contract terms of issue 18) are given in the
    file's ``locale``; the others keep the loader's English wording."""
    from bot.core.i18n import t

    locale = exc.locale
    lines = [t("dealfile.rejected", locale)]
    for index, (key, line, message) in enumerate(exc.problems):
        code = exc.codes.get(index)
        text = message if code is None else t(code[0], locale, **code[1])
        lines.append(f"{exc.source}:{line if line is not None else '?'}: {key}: {text}")
    return "\n".join(lines)


def _settings(db: str | None = None) -> Settings:
    settings = Settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    return settings


@app.command()
def run() -> None:
    """Start the configured platforms (Slack, Telegram), the HTTP server and the scheduler."""
    from bot.app import run as run_bot

    settings = _settings()
    if not (settings.slack_enabled or settings.telegram_enabled):
        typer.echo(
            "No platform is configured. Set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET "
            "(HTTP) or SLACK_APP_TOKEN (Socket Mode), and/or TELEGRAM_BOT_TOKEN. "
            "See .env.example. To try kpibot without any account: kpibot demo, kpibot chat.",
            err=True,
        )
        raise typer.Exit(2)
    _serve(settings, run_bot)


def _serve(settings: Settings, serve: Callable[[Settings], Coroutine[Any, Any, int]]) -> None:
    """Set up logging, run ``serve`` until it returns or Ctrl-C, and exit with its status."""
    from bot.logs import setup_logging

    setup_logging(settings)
    try:
        raise typer.Exit(asyncio.run(serve(settings)))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@db_app.command("upgrade")
def db_upgrade(
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Apply the Alembic migrations up to the newest schema."""
    from kpi.db import upgrade_sync

    upgrade_sync(_settings(db).database_url)
    typer.echo("database is up to date")


@deal_app.command("apply")
def deal_apply(
    files: Annotated[list[Path], typer.Argument(help="Deal YAML files.", exists=True)],
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Create or update deals from YAML files. Invalid files are rejected whole."""
    from kpi.dealfile import load_deal_file
    from kpi.errors import DealFileError

    loaded = []
    failed = False
    for path in files:
        try:
            loaded.append((path, *load_deal_file(path)))
        except DealFileError as exc:
            typer.echo(deal_error_text(exc), err=True)
            failed = True
    if failed:
        raise typer.Exit(1)

    async def apply() -> list[str]:
        from bot.app import build_core

        core = await build_core(_settings(db))
        try:
            out = []
            for path, deal, text in loaded:
                deal_id, version = await core.apply_deal(deal, text)
                # The date the stored version takes effect (the same text is no new version).
                stored = await core.ledger.current_deal(deal_id)
                effective = stored[0].effective if stored is not None else None
                when = _takes_effect_text(deal, effective or deal.starts)
                out.append(f"{path}: deal {deal_id} version {version}. {when}")
            return out
        finally:
            await core.aclose()

    for line in asyncio.run(apply()):
        typer.echo(line)


def _takes_effect_text(deal: Deal, effective: dt.date) -> str:
    """Says plainly from which period a deal version applies (issue 12, item 10)."""
    from bot.core.i18n import t
    from kpi.periods import period_containing, takes_effect

    period = takes_effect(deal.starts, deal.period, effective)
    if period.start == effective:
        return t("sem.effective_now", deal.locale, date=effective.isoformat(), period=period.label)
    current = period_containing(deal.starts, deal.period, max(effective, deal.starts))
    return t(
        "sem.effective_next",
        deal.locale,
        date=period.start.isoformat(),
        period=period.label,
        current=current.label,
    )


@deal_app.command("check")
def deal_check(
    files: Annotated[list[Path], typer.Argument(help="Deal YAML files.", exists=True)],
) -> None:
    """Validate deal files without storing anything."""
    from kpi.dealfile import load_deal_file
    from kpi.errors import DealFileError

    failed = False
    for path in files:
        try:
            deal, _ = load_deal_file(path)
            typer.echo(
                f"{path}: ok ({deal.id}, {len(deal.metrics)} metrics, {len(deal.targets)} targets)"
            )
        except DealFileError as exc:
            typer.echo(deal_error_text(exc), err=True)
            failed = True
    if failed:
        raise typer.Exit(1)


@deal_app.command("list")
def deal_list(
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """List the stored deals, their current version and linked chats."""

    async def collect() -> list[str]:
        from bot.app import build_core

        core = await build_core(_settings(db))
        try:
            lines = []
            for deal_id in await core.ledger.list_deals():
                current = await core.ledger.current_deal(deal_id)
                if current is None:
                    continue
                deal, version = current
                chats = ", ".join(f"{c.id} ({c.side})" for c in deal.chats)
                lines.append(f"{deal_id} v{version}: {deal.name} — {chats}")
            return lines
        finally:
            await core.aclose()

    for line in asyncio.run(collect()) or ["no deals"]:
        typer.echo(line)


@app.command()
def chat(
    deal: Annotated[list[Path], typer.Option(help="Deal file(s) to load.", exists=True)],
    chat_id: Annotated[
        str, typer.Option("--chat", help="The chat identity, e.g. telegram:-1001234.")
    ],
    as_: Annotated[str, typer.Option("--as", help="Who you are, e.g. telegram:5001.")],
    name: Annotated[str, typer.Option(help="Your display name.")] = "",
    db: Annotated[str | None, typer.Option(help="Database URL (default: a temporary one).")] = None,
) -> None:
    """Talk to the bot in this terminal as one person in one chat (no accounts needed)."""
    from bot.app import run_chat

    texts = [(str(p), p.read_text(encoding="utf-8")) for p in deal]
    raise typer.Exit(asyncio.run(run_chat(texts, chat_id, as_, name, db)))


@app.command()
def replay(
    script: Annotated[Path, typer.Argument(help="The JSON-lines script.", exists=True)],
    deal: Annotated[list[Path], typer.Option(help="Deal file(s) to load.", exists=True)],
    db: Annotated[
        str | None, typer.Option(help="Database URL (default: a fresh temporary one).")
    ] = None,
) -> None:
    """Play a scripted conversation on a virtual clock; print what the bot sends, as JSON lines."""
    from bot.app import run_replay
    from bot.replay import ScriptError, parse_script
    from kpi.errors import DealFileError

    try:
        steps = parse_script(script.read_text(encoding="utf-8").splitlines(), script.parent)
    except ScriptError as exc:
        typer.echo(f"{script}:{exc.lineno}: {exc.problem}", err=True)
        raise typer.Exit(2) from None
    texts = [(str(p), p.read_text(encoding="utf-8")) for p in deal]
    try:
        sent = asyncio.run(run_replay(texts, steps, db_url=db))
    except DealFileError as exc:
        typer.echo(deal_error_text(exc), err=True)
        raise typer.Exit(1) from None
    for record in sent:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@app.command()
def demo() -> None:
    """Play the bundled scenario (a month of a seller and an agency at work) as a transcript."""
    from bot.adapters.console import Transcript
    from bot.app import run_replay
    from bot.replay import demo_files, parse_script

    texts, lines = demo_files()
    steps = parse_script(lines)
    transcript = Transcript()
    with _errors_only():
        asyncio.run(run_replay(texts, steps, on_event=transcript))
    transcript.flush()


@contextlib.contextmanager
def _errors_only() -> Iterator[None]:
    """Show only log records of ERROR and above (on stderr) while the block runs.

    The demo's output is its transcript: the scheduler's and adapters' warnings and info lines
    (Python prints warnings by default) would interleave with it. Errors still show.
    """
    from bot.logs import TextFormatter

    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    handler.setFormatter(TextFormatter("%(levelname)s %(name)s %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@app.command()
def statement(
    deal: Annotated[str, typer.Option(help="The deal id, e.g. acme-linkstar-us.")],
    period: Annotated[
        str | None,
        typer.Option(help="The period, e.g. 2026-11 (default: the most recent ended one)."),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Also write the statement as CSV: period, view, kind, description, amount, "
            "currency (one row per line, plus a total row per view).",
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
    today: Annotated[
        str | None,
        typer.Option(help="Judge the period as of this day, YYYY-MM-DD (default: today)."),
    ] = None,
) -> None:
    """Print a period's fee statement, the same as /statement in a chat (plain text)."""
    import csv

    from bot.core.views.kpi import flatten
    from handlers.statement import CSV_HEADER

    view = _statement_view(db, deal, period, today)
    typer.echo(flatten(view.rich))
    if csv_file is not None:
        with csv_file.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(CSV_HEADER)
            writer.writerows(view.rows)


def _statement_view(
    db: str | None, deal: str, period: str | None, today: str | None
) -> StatementView:
    """``kpibot statement``'s view; a usage error (exit 2) or unknown deal (exit 1) ends it."""
    from bot.core.i18n import t
    from handlers.statement import statement_report
    from kpi.errors import UserError

    day = None
    if today is not None:
        try:
            day = dt.date.fromisoformat(today)
        except ValueError:
            typer.echo(f"--today must be a date like 2026-12-01, not {today!r}", err=True)
            raise typer.Exit(2) from None

    async def build() -> StatementView:
        from bot.app import build_core

        core = await build_core(_settings(db))
        try:
            return await statement_report(
                core.ledger,
                core.services.statements,
                deal,
                period,
                now=core.clock.now(),
                today=day,
            )
        finally:
            await core.aclose()

    try:
        return asyncio.run(build())
    except LookupError:
        typer.echo(f"unknown deal {deal!r}; kpibot deal list shows the stored deals", err=True)
        raise typer.Exit(1) from None
    except UserError as exc:
        typer.echo(t(exc.code, "en", **exc.params), err=True)
        raise typer.Exit(2) from None


@app.command()
def web() -> None:
    """Serve only the HTTP side (the dashboard, /healthz, /metrics): no platform, no scheduler."""
    from bot.app import run_web

    settings = _settings()
    if settings.secret_key is None:
        typer.echo(
            "SECRET_KEY is not set: the dashboard signs its links with it. Set it in .env "
            "(see .env.example), then run kpibot web again.",
            err=True,
        )
        raise typer.Exit(2)
    _serve(settings, run_web)


@app.command("dashboard-link")
def dashboard_link(
    deal: Annotated[str, typer.Option(help="The deal id, e.g. acme-linkstar-us.")],
    side: Annotated[str, typer.Option(help="Whose view: seller, agency or shared.")] = "shared",
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=366, help="Days the link stays valid (default DASHBOARD_LINK_DAYS)."
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Print a signed link to a deal's dashboard (as /dashboard gives in a chat)."""
    from bot.dashboard.links import VIEW_SIDES, Links

    settings = _settings(db)
    if settings.secret_key is None:
        typer.echo("SECRET_KEY is not set: set it (see .env.example) to sign links.", err=True)
        raise typer.Exit(2)
    if side not in VIEW_SIDES:
        typer.echo(f"--side must be seller, agency or shared, not {side!r}", err=True)
        raise typer.Exit(2)

    async def issue() -> str | None:
        from bot.app import build_core

        core = await build_core(settings)
        try:
            if await core.ledger.current_deal(deal) is None:
                return None
            links = core.services.dashboard
            assert isinstance(links, Links)
            return links.url(links.token(deal, side, core.clock.now(), days))  # type: ignore[arg-type]
        finally:
            await core.aclose()

    url = asyncio.run(issue())
    if url is None:
        typer.echo(f"unknown deal {deal!r}; kpibot deal list shows the stored deals", err=True)
        raise typer.Exit(1)
    typer.echo(url)


class ExportFormat(enum.StrEnum):
    """What ``kpibot export`` writes."""

    csv = "csv"
    xlsx = "xlsx"
    jsonl = "jsonl"


@app.command()
def export(
    out: Annotated[
        Path, typer.Option(help="The file to write (csv: one file per table, named after it).")
    ],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, xlsx or jsonl.")],
    deal: Annotated[str | None, typer.Option(help="The deal id, e.g. acme-linkstar-us.")] = None,
    period: Annotated[
        str | None, typer.Option(help="The period, e.g. 2026-11 (default: the current one).")
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="A full backup of every deal and table (with --format jsonl)."),
    ] = False,
    lang: Annotated[
        str | None, typer.Option(help="Language of the statement's descriptions (en, zh).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Write a deal's period as CSV, XLSX or JSON lines, or (--all) a backup of everything.

    A period: the ledger with its audit trail, the verdicts, the daily figures by side and the
    statement. A backup: every row of every table, which kpibot restore reads back."""
    folder = out.parent
    if not folder.resolve().is_dir():
        typer.echo(f"{folder}: no such folder; create it first or choose another --out", err=True)
        raise typer.Exit(2)
    if all_:
        if fmt is not ExportFormat.jsonl or deal or period:
            typer.echo(
                "--all writes a backup: use it with --format jsonl and no --deal/--period", err=True
            )
            raise typer.Exit(2)
        count = asyncio.run(_backup(_settings(db), out))
        typer.echo(f"{out}: backup of {count} rows")
        return
    if deal is None:
        typer.echo("give --deal ID (or --all for a full backup)", err=True)
        raise typer.Exit(2)
    if lang is not None and lang not in ("en", "zh"):
        typer.echo(f"--lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    from kpi.export import jsonl_lines, write_csv, xlsx_bytes

    sheets = asyncio.run(_export_deal(_settings(db), deal, period, lang))
    if fmt is ExportFormat.csv:
        for path in write_csv(sheets, out):
            typer.echo(str(path))
        return
    if fmt is ExportFormat.xlsx:
        out.write_bytes(xlsx_bytes(sheets))
    else:
        out.write_text("".join(line + "\n" for line in jsonl_lines(sheets)), encoding="utf-8")
    typer.echo(f"{out}: {', '.join(f'{s.name} {len(s.rows)} rows' for s in sheets)}")


async def _backup(settings: Settings, out: Path) -> int:
    from bot.app import all_tables, build_core
    from kpi.export_backup import dump

    core = await build_core(settings)
    count = -1  # the header line is not a row
    try:
        with out.open("w", encoding="utf-8") as handle:
            async for line in dump(core.engine, all_tables()):
                handle.write(line + "\n")
                count += 1
    finally:
        await core.aclose()
    return count


async def _export_deal(
    settings: Settings,
    deal_id: str,
    label: str | None,
    lang: str | None,
) -> list[Sheet]:
    from bot.app import build_core
    from bot.dashboard.page import T
    from handlers.export import chosen_period, period_sheets
    from kpi.errors import UserError
    from kpi.periods import business_day

    core = await build_core(settings)
    try:
        current = await core.ledger.current_deal(deal_id)
        if current is None:
            typer.echo(
                f"unknown deal {deal_id!r}; kpibot deal list shows the stored deals", err=True
            )
            raise typer.Exit(1)
        deal = current[0]
        t = T(lang or deal.locale)
        today = business_day(core.clock.now(), deal.timezone)
        try:
            period = chosen_period(deal, today, label, command="statement")
        except UserError as exc:
            typer.echo(t(exc.code, **exc.params), err=True)
            raise typer.Exit(2) from None
        return await period_sheets(core.ledger, core.services.statements, deal, today, period, t)
    finally:
        await core.aclose()


@app.command()
def restore(
    backup: Annotated[Path, typer.Argument(help="A file from kpibot export --all.", exists=True)],
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Load a backup into an empty database (migrated first); nothing is written on a problem."""
    from kpi.export_backup import BackupError

    try:
        counts = asyncio.run(_restore(_settings(db), backup))
    except BackupError as exc:
        typer.echo(f"{backup}: {exc}; nothing was restored", err=True)
        raise typer.Exit(1) from None
    typer.echo(", ".join(f"{name} {n}" for name, n in counts.items()) or "the backup holds no rows")


async def _restore(settings: Settings, backup: Path) -> dict[str, int]:
    from bot.app import all_tables, build_core
    from kpi.export_backup import restore as restore_rows

    # No deals_dir: a backup goes into an empty database, before any deal file is applied.
    core = await build_core(settings.model_copy(update={"deals_dir": None}))
    try:
        with backup.open(encoding="utf-8") as lines:
            return await restore_rows(core.engine, all_tables(), lines)
    finally:
        await core.aclose()


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A Seller Center export (.csv or .xlsx).")],
    deal: Annotated[str, typer.Option(help="The deal id, e.g. acme-linkstar-us.")],
    kind: Annotated[
        str | None,
        typer.Option(help="live, orders or income (default: detected from the headers)."),
    ] = None,
    as_: Annotated[str, typer.Option("--as", help="Who imports, as /history shows it.")] = "cli",
    lang: Annotated[
        str | None, typer.Option(help="Language of the answer (en, zh; default: the deal's).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Import a TikTok Shop export as the platform's figures; a bad file is refused whole."""
    if kind is not None and kind not in ("live", "orders", "income"):
        typer.echo(f"--kind must be live, orders or income, not {kind!r}", err=True)
        raise typer.Exit(2)
    if lang is not None and lang not in ("en", "zh"):
        typer.echo(f"--lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.echo(f"{file}: cannot read the file ({exc.strerror})", err=True)
        raise typer.Exit(2) from None
    try:
        stored, lines = asyncio.run(_import(data, file.name, deal, kind, as_, db, lang))
    except LookupError:
        typer.echo(f"unknown deal {deal!r}; kpibot deal list shows the stored deals", err=True)
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line, err=not stored)
    if not stored:
        raise typer.Exit(2)


async def _import(
    data: bytes,
    name: str,
    deal_id: str,
    kind: str | None,
    person: str,
    db: str | None,
    lang: str | None,
) -> tuple[bool, list[str]]:
    """Whether the file was stored, and what to print, in ``lang`` (default: the deal's)."""
    from bot.app import build_core
    from handlers.imports import import_file, render_refusal, render_result
    from kpi.platform.problems import ImportRefused
    from kpi.platform.store import Uploader

    core = await build_core(_settings(db))
    try:
        current = await core.ledger.current_deal(deal_id)
        if current is None:
            raise LookupError(deal_id)
        deal = current[0]
        locale = lang or deal.locale
        try:
            result = await import_file(
                core.services.platform,
                deal,
                data,
                name,
                Uploader(person, person, "cli"),
                core.clock.now(),
                kind=kind,  # type: ignore[arg-type]
                max_bytes=core.settings.import_max_bytes,
            )
        except ImportRefused as refused:
            return False, render_refusal(refused, locale)
        return True, [render_result(result, locale)]
    finally:
        await core.aclose()


def _tiktok_settings(db: str | None) -> Settings:
    from bot.core.i18n import t

    settings = _settings(db)
    if not settings.tiktok_enabled:
        typer.echo(t("tiktok.off"), err=True)
        raise typer.Exit(2)
    return settings


async def _tiktok(
    settings: Settings, deal: str, since: dt.date | None, sync: bool
) -> tuple[int, str]:
    from bot.app import build_core
    from bot.tiktok.commands import connect_text, sync_text

    core = await build_core(settings)
    try:
        if sync:
            return await sync_text(core, deal, since)
        return 0, await connect_text(core, deal)
    finally:
        await core.aclose()


def _run_tiktok(settings: Settings, deal: str, since: dt.date | None, sync: bool) -> None:
    try:
        status, text = asyncio.run(_tiktok(settings, deal, since, sync))
    except LookupError:
        typer.echo(f"unknown deal {deal!r}; kpibot deal list shows the stored deals", err=True)
        raise typer.Exit(1) from None
    typer.echo(text, err=status != 0)
    raise typer.Exit(status)


@tiktok_app.command("connect")
def tiktok_connect(
    deal: Annotated[str, typer.Option(help="The deal whose shop to link.")],
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Print the link the seller opens to authorize the agency's app for the deal's shop."""
    _run_tiktok(_tiktok_settings(db), deal, None, sync=False)


@tiktok_app.command("sync")
def tiktok_sync(
    deal: Annotated[str, typer.Option(help="The deal whose shop to sync.")],
    since: Annotated[
        str | None, typer.Option(help="First day to fetch, YYYY-MM-DD (default: deal start).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL).")] = None,
) -> None:
    """Fetch the shop's LIVE sessions of every day not final yet into the platform figures."""
    first = None
    if since is not None:
        try:
            first = dt.date.fromisoformat(since)
        except ValueError:
            typer.echo(f"--since must be a date like 2026-11-01, not {since!r}", err=True)
            raise typer.Exit(2) from None
    _run_tiktok(_tiktok_settings(db), deal, first, sync=True)


def main() -> None:
    """Entry point of the ``kpibot`` script."""
    app()


if __name__ == "__main__":
    main()
