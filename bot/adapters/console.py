"""The console adapter: an interactive chat in the terminal, and the demo's transcript printer."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core import Command, Delivered, Outgoing
from bot.core.ports import Driver


@dataclass
class ConsolePort:
    """Prints what the bot sends to the terminal (every platform, since there is only one)."""

    platform: str = "*"

    async def send(self, message: Outgoing) -> Delivered:
        label = message.to if message.kind == "reply" else f"{message.to} [{message.kind}]"
        print(f"kpibot → {label}:")
        print(textwrap.indent(message.text, "  "))
        for attachment in message.files:
            print(f"  📎 {attachment.filename}")
        return Delivered(ok=True)


async def interactive(
    core: Driver, deal_texts: Sequence[tuple[str, str]], chat: str, user: str, name: str
) -> int:
    """Read commands from stdin as ``user`` in ``chat`` until EOF or ``/quit``."""
    core.add_port(ConsolePort())
    for source, text in deal_texts:
        await core.apply_deal_text(text, source)
    print(f"kpibot console — you are {user} in {chat}. /help for commands, /quit to leave.")
    while True:
        try:
            line = await asyncio.to_thread(input, "you> ")
        except EOFError:
            break
        if line.strip() in ("/quit", "/exit"):
            break
        if not line.strip():
            continue
        cmd = Command(chat=chat, user=user, text=line, at=core.clock.now(), name=name)
        for reply in await core.handle(cmd):
            await core.deliver(reply)
    return 0


class Transcript:
    """The demo's readable transcript: who said what, and what the bot answered.

    The same message fanned out to several chats at one instant (a recap, a warning) is
    printed once, with every recipient."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.pending: list[dict[str, Any]] = []

    def __call__(self, kind: str, payload: Any) -> None:
        if kind == "out":
            record: dict[str, Any] = payload
            if self.pending and not self._same(self.pending[-1], record):
                self.flush()
            self.pending.append(record)
            return
        self.flush()
        if kind == "in":
            cmd: Command = payload.command
            at = cmd.at.strftime("%a %Y-%m-%d %H:%M")
            who = cmd.name or cmd.user
            self.out.write(f"\n[{at}] {who} in {cmd.chat}:\n  {cmd.text}\n")

    @staticmethod
    def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        keys = ("at", "kind", "text")
        return all(a[k] == b[k] for k in keys) and a.get("files") == b.get("files")

    def flush(self) -> None:
        if not self.pending:
            return
        record = self.pending[0]
        to = ", ".join(r["to"] for r in self.pending)
        self.pending = []
        at = dt.datetime.fromisoformat(record["at"]).strftime("%a %Y-%m-%d %H:%M")
        tag = "" if record["kind"] == "reply" else f" [{record['kind']}]"
        self.out.write(f"  kpibot → {to}{tag} at {at}:\n")
        self.out.write(textwrap.indent(record["text"], "    ") + "\n")
        for name in record.get("files", []):
            self.out.write(f"    📎 {name}\n")
