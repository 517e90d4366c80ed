"""``kpibot replay``: a scripted conversation on a virtual clock, and the bundled demo.

A script is JSON lines. A message line::

    {"at": "2026-11-03T22:10:00-08:00", "chat": "telegram:-1001234", "user": "telegram:5001",
     "name": "Seller ops lead", "text": "/report gmv 1.2万", "id": "m-17"}

A message line may carry ``"file": "PATH"`` (relative to the script), e.g. with
``"text": "/import"``: the message is that file sent in that chat by that user.
``{"at": "...", "tick": true}`` only moves the clock (scheduled work due by then runs).
Every message the bot sends is written as one JSON line, in time order::

    {"at": "...", "to": "telegram:-1001234", "kind": "reply", "text": "..."}

Scheduled work fires on the virtual clock at its own time: before each line, the clock stops at
every instant something comes due (a recap, pace check or reminder slot, an escalation notice,
a deferred or retried message) up to the line's time, and the bot's messages then are stamped
with that instant, never with the next line's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import UNPACED, Attachment, Command, Delivered, Outgoing, PortLimits, VirtualClock
from bot.core.ports import Driver

_MESSAGE_KEYS = {"at", "chat", "user", "name", "text", "id", "direct", "file"}
_TICK_KEYS = {"at", "tick"}


class ScriptError(ValueError):
    """A malformed script line; the run stops."""

    def __init__(self, lineno: int, problem: str) -> None:
        self.lineno = lineno
        self.problem = problem
        super().__init__(f"line {lineno}: {problem}")


@dataclass(frozen=True)
class Step:
    """One script line, validated."""

    lineno: int
    at: dt.datetime
    command: Command | None


def parse_script(lines: Iterable[str], base: Path | None = None) -> list[Step]:
    """Validate every line before anything runs; the first bad line raises ``ScriptError``.

    ``base`` is the folder ``"file"`` paths are relative to (the script's; default: the
    current directory)."""
    steps: list[Step] = []
    previous: dt.datetime | None = None
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ScriptError(lineno, f"not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ScriptError(lineno, "each line must be a JSON object")
        at = _parse_at(lineno, obj.get("at"))
        if previous is not None and at < previous:
            raise ScriptError(lineno, f"time goes backwards ({obj['at']})")
        previous = at
        if obj.get("tick") is True:
            unknown = set(obj) - _TICK_KEYS
            if unknown:
                raise ScriptError(lineno, f"unknown keys in a tick line: {sorted(unknown)}")
            steps.append(Step(lineno, at, None))
            continue
        unknown = set(obj) - _MESSAGE_KEYS
        if unknown:
            raise ScriptError(lineno, f"unknown keys: {sorted(unknown)}")
        for key in ("chat", "user", "text"):
            value = obj.get(key)
            if not isinstance(value, str) or not value:
                raise ScriptError(lineno, f"'{key}' must be a non-empty string")
            if key != "text" and ":" not in value:
                raise ScriptError(lineno, f"'{key}' must be an identity like telegram:5001")
        msg_id = obj.get("id")
        if msg_id is not None and not isinstance(msg_id, str | int):
            raise ScriptError(lineno, "'id' must be a string or a number")
        steps.append(
            Step(
                lineno,
                at,
                Command(
                    chat=obj["chat"],
                    user=obj["user"],
                    text=obj["text"],
                    at=at,
                    name=str(obj.get("name") or ""),
                    message_id=str(msg_id) if msg_id is not None else None,
                    is_direct=bool(obj.get("direct", False)),
                    files=_script_file(lineno, obj.get("file"), base),
                ),
            )
        )
    return steps


def _script_file(lineno: int, value: Any, base: Path | None) -> tuple[Attachment, ...]:
    """The file a script line sends (``"file": "PATH"``), read now so a missing one stops early."""
    if value is None:
        return ()
    if not isinstance(value, str) or not value:
        raise ScriptError(lineno, "'file' must be a path relative to the script")
    path = (base or Path()) / value
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ScriptError(lineno, f"cannot read 'file' {value!r}: {exc.strerror}") from None
    return (Attachment(path.name, content, mime="application/octet-stream"),)


def _parse_at(lineno: int, value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ScriptError(lineno, "'at' is required: an ISO time with offset")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ScriptError(lineno, f"'at' is not an ISO time: {value!r}") from None
    if at.tzinfo is None:
        raise ScriptError(lineno, f"'at' needs a UTC offset: {value!r}")
    return at


@dataclass
class RecordingPort:
    """The replay's delivery port: catches every platform and records what was sent."""

    clock: VirtualClock
    platform: str = "*"
    limits: PortLimits = UNPACED
    """Replay never waits: its clock is virtual."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    offset: dt.tzinfo = dt.UTC

    async def send(self, message: Outgoing) -> Delivered:
        record: dict[str, Any] = {
            "at": self.clock.now().astimezone(self.offset).isoformat(),
            "to": message.to,
            "kind": message.kind,
            "text": message.text,
        }
        if message.files:
            record["files"] = [f.filename for f in message.files]
        self.sent.append(record)
        return Delivered(ok=True, message_id=f"replay-{len(self.sent)}")


def first_instant(steps: Sequence[Step]) -> dt.datetime:
    """Where a replay's virtual clock starts: the script's first line (2026-01-01 if empty)."""
    return steps[0].at if steps else dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def play(
    core: Driver,
    clock: VirtualClock,
    deal_texts: Sequence[tuple[str, str]],
    steps: Sequence[Step],
    *,
    on_event: Any = None,
) -> list[dict[str, Any]]:
    """Play ``steps`` through a built core on its virtual clock; returns what the bot sent.

    ``deal_texts`` are ``(source name, YAML text)``, applied first. ``on_event(kind, payload)``
    sees inputs and outputs as they happen (the demo prints a transcript from it). The core is
    built (and closed) by ``bot.app.run_replay``."""
    port = RecordingPort(clock, offset=first_instant(steps).tzinfo or dt.UTC)
    core.add_port(port)
    zones: set[str] = set()
    for source, text in deal_texts:
        deal_id = await core.apply_deal_text(text, source)
        current = await core.current_deal(deal_id)
        if current is not None:
            zones.add(current[0].timezone)
    for step in steps:
        await _play(core, clock, port, step, on_event, zones)
    return port.sent


MAX_SCHEDULED_STOPS = 100_000
"""Scheduled instants played between two script lines at most (a runaway guard)."""


async def _play(
    core: Driver,
    clock: VirtualClock,
    port: RecordingPort,
    step: Step,
    on_event: Any,
    zones: set[str] | frozenset[str] = frozenset(),
) -> None:
    await _catch_up(core, clock, port, step.at, on_event, zones)
    clock.set(step.at)
    port.offset = step.at.tzinfo or dt.UTC
    before = len(port.sent)
    await core.tick(step.at)
    _emit(on_event, port, before)
    if step.command is None:
        return
    if on_event:
        on_event("in", step)
    before = len(port.sent)
    for reply in await core.handle(step.command):
        await core.deliver(reply)
    # What the command queued for now (a dispute's notice to the other side) goes now, as a
    # running bot's scheduler sends it within seconds, not at the next scheduled job's time.
    await core.tick(step.at)
    _emit(on_event, port, before)


async def _catch_up(
    core: Driver,
    clock: VirtualClock,
    port: RecordingPort,
    until: dt.datetime,
    on_event: Any,
    zones: set[str] | frozenset[str],
) -> None:
    """Stop the clock at every instant scheduled work comes due before ``until``, and tick."""
    offset = _between_lines(clock.now(), port.offset, zones)
    for _ in range(MAX_SCHEDULED_STOPS):
        now = clock.now()
        due = await core.next_due_after(now)
        # A due time that does not move forward would loop for ever; the line's tick takes it.
        if due is None or due > until or due <= now:
            return
        clock.set(due)
        port.offset = offset
        before = len(port.sent)
        await core.tick(due)
        _emit(on_event, port, before)


def _between_lines(
    previous: dt.datetime, offset: dt.tzinfo, zones: set[str] | frozenset[str]
) -> dt.tzinfo:
    """The zone to stamp scheduled messages in between two lines.

    A script written on its deal's wall clock (every deal in one zone, and the previous line's
    offset that zone's) gets the zone itself, so a message after a daylight-saving change shows
    the new offset; otherwise the previous line's offset.
    """
    if len(zones) == 1:
        zone = ZoneInfo(next(iter(zones)))
        if previous.astimezone(zone).utcoffset() == offset.utcoffset(previous):
            return zone
    return offset


def _emit(on_event: Any, port: RecordingPort, start: int) -> None:
    if on_event:
        for record in port.sent[start:]:
            on_event("out", record)


def demo_files() -> tuple[list[tuple[str, str]], list[str]]:
    """The bundled demo: its deal file(s) and script lines."""
    folder = resources.files("bot") / "demo"
    deal = folder / "acme-linkstar-us.yaml"
    script = folder / "demo.jsonl"
    return (
        [(deal.name, deal.read_text(encoding="utf-8"))],
        script.read_text(encoding="utf-8").splitlines(),
    )
