"""An outbox message's stored form: the ``Outgoing`` minus its address, as JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.core import Attachment, MessageKind, Outgoing
from bot.core.rich import Rich

__all__ = ["decode", "encode"]


def encode(msg: Outgoing) -> str:
    """The JSON text stored in ``outbox.payload``; ``msg.to`` is the row's ``chat``."""
    data: dict[str, Any] = {"kind": msg.kind, "text": msg.text}
    if msg.rich is not None:
        data["rich"] = msg.rich.to_json()
    if msg.mentions:
        data["mentions"] = list(msg.mentions)
    if msg.files:
        data["files"] = [
            {
                "filename": f.filename,
                "mime": f.mime,
                "title": f.title,
                "content": base64.b64encode(f.content).decode("ascii"),
            }
            for f in msg.files
        ]
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def decode(payload: str, to: str) -> Outgoing:
    """The message to send to ``to``.

    Raises:
        ValueError: The payload is not a stored message.
    """
    data = json.loads(payload)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError("outbox payload is not a message")
    kind: MessageKind = data.get("kind", "reply")
    files = tuple(
        Attachment(
            filename=f["filename"],
            content=base64.b64decode(f["content"]),
            mime=f.get("mime", "image/png"),
            title=f.get("title", ""),
        )
        for f in data.get("files", ())
    )
    return Outgoing(
        to=to,
        text=data["text"],
        kind=kind,
        files=files,
        rich=Rich.from_json(data["rich"]) if data.get("rich") else None,
        mentions=tuple(data.get("mentions", ())),
    )
