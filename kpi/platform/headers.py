"""The known exports' columns: each field's header aliases (English variants and localized)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CURRENCY_SYMBOLS",
    "KINDS",
    "Field",
    "Kind",
    "normalize",
    "split_unit",
]

Kind = Literal["live", "orders", "income", "shop"]
KINDS: tuple[Kind, ...] = ("live", "orders", "income")
"""The kinds of export a file can be; ``shop`` (a day's shop performance) comes only from the
Open API (:mod:`bot.tiktok.sync`)."""

FieldType = Literal["text", "id", "money", "count", "time", "utc_time", "duration"]


@dataclass(frozen=True)
class Field:
    """A column an export may have: its name, type, whether it is required, its aliases."""

    name: str
    type: FieldType
    required: bool
    aliases: tuple[str, ...]
    label: str
    """The English header, as messages name the column."""


def normalize(header: str) -> str:
    """A header as compared with aliases: no BOM, case-folded, single spaces, no space before '('.

    >>> normalize("\\ufeffOrder created time (UTC) ")
    'order created time(utc)'
    """
    text = header.replace("\ufeff", "").replace("_", " ").replace("（", "(").replace("）", ")")
    text = re.sub(r"\s+", " ", text).strip().casefold()
    return text.replace(" (", "(")


_UNIT = re.compile(r"^(?P<name>.*?)\((?P<unit>[^()]*)\)$")


def split_unit(header: str) -> tuple[str, str | None]:
    """A normalized header without a trailing ``(unit)``, and the unit (``None`` if none)."""
    match = _UNIT.match(header)
    if not match or not match["name"].strip():
        return header, None
    return match["name"].strip(), match["unit"].strip()


CURRENCY_SYMBOLS: dict[str, frozenset[str]] = {
    "$": frozenset({"USD", "SGD", "CAD", "AUD", "MXN"}),
    "us$": frozenset({"USD"}),
    "s$": frozenset({"SGD"}),
    "rm": frozenset({"MYR"}),
    "£": frozenset({"GBP"}),
    "€": frozenset({"EUR"}),
    "₫": frozenset({"VND"}),
    "đ": frozenset({"VND"}),
    "฿": frozenset({"THB"}),
    "₱": frozenset({"PHP"}),
    "rp": frozenset({"IDR"}),
    "¥": frozenset({"CNY", "JPY"}),
    "￥": frozenset({"CNY", "JPY"}),
    "元": frozenset({"CNY"}),
    "r$": frozenset({"BRL"}),
}
"""Which currencies a symbol in a header may mean (a three-letter code means itself)."""


def _f(name: str, type_: FieldType, required: bool, *aliases: str) -> Field:
    label = aliases[0] if aliases else name
    return Field(name, type_, required, tuple(normalize(a) for a in (name, *aliases)), label)


FIELDS: dict[Kind, tuple[Field, ...]] = {
    "live": (
        _f("creator_id", "id", True, "Creator ID", "达人ID", "创作者ID", "ID nhà sáng tạo"),
        _f("creator", "text", False, "Creator", "Creator name", "达人", "创作者", "Nhà sáng tạo"),
        _f("nickname", "text", False, "Nickname", "昵称"),
        _f("launched", "time", True, "Launched Time", "Launch time", "Start time", "开播时间"),
        _f("duration", "duration", True, "Duration", "直播时长", "时长", "Thời lượng"),
        _f(
            "live_gmv",
            "money",
            True,
            "LIVE gross merchandise value",
            "LIVE GMV",
            "直播成交金额",
            "直播GMV",
        ),
        _f("attributed_gmv", "money", False, "LIVE attributed GMV", "直播归因成交金额"),
        _f("live_orders", "count", False, "LIVE SKU orders", "直播SKU订单数", "SKU orders"),
        _f("items_sold", "count", False, "LIVE items sold", "直播成交件数"),
        _f("customers", "count", False, "Unique customers", "成交人数"),
        _f("viewers", "count", True, "Viewers", "观看人数", "Người xem", "Penonton"),
        _f("views", "count", False, "Views", "观看次数"),
    ),
    "orders": (
        _f("order_id", "id", True, "Order ID", "订单号", "订单ID", "Mã đơn hàng", "ID Pesanan"),
        _f("status", "text", True, "Order Status", "订单状态", "Trạng thái đơn hàng"),
        _f("sku_id", "text", False, "SKU ID"),
        _f("quantity", "count", False, "Quantity", "数量"),
        _f("order_amount", "money", True, "Order Amount", "订单金额", "Jumlah Pesanan"),
        _f("order_refund", "money", False, "Order Refund Amount", "订单退款金额"),
        _f("created", "time", True, "Created Time", "创建时间", "下单时间", "Thời gian tạo"),
        _f("currency", "text", False, "Currency", "币种", "货币"),
    ),
    "income": (
        _f(
            "income_id",
            "id",
            True,
            "Order/adjustment ID",
            "Order/Adjustment ID",
            "订单/调整ID",
            "订单/调整 ID",
        ),
        _f("type", "text", True, "Type", "类型"),
        _f("created", "utc_time", True, "Order created time(UTC)", "订单创建时间(UTC)"),
        _f("settled", "utc_time", False, "Order settled time(UTC)", "订单结算时间(UTC)"),
        _f("currency", "text", False, "Currency", "币种", "货币"),
        _f("settlement", "money", True, "Total settlement amount", "结算总额"),
        _f("revenue", "money", False, "Total revenue", "总收入"),
        _f("income_refund", "money", False, "Refund subtotal after seller discounts"),
        _f("fees", "money", False, "Total fees", "总费用"),
    ),
}
"""Every field of every known export, in the order sessions and messages show them."""
