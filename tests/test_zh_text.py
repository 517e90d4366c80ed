"""Chinese text reads as Chinese: full-width punctuation between CJK, no snake_case keys."""

from __future__ import annotations

import re

from bot.core.i18n import catalog, placeholders

CJK = "\u4e00-\u9fff"
# An ASCII comma, colon or semicolon with Chinese on both sides (spaces allowed around it).
ASCII_PUNCT_IN_CJK = re.compile(rf"[{CJK}）」”][ ]*[,:;][ ]*[{CJK}（「“]")
# A snake_case identifier (a metric key such as ad_spend) outside a command to type.
SNAKE = re.compile(r"(?<![/#\w])[a-z]+(?:_[a-z]+)+\b")

# Values a zh message is filled with at run time: labels, sides, figures, days.
SAMPLE = {
    "metric": "成交额",
    "side": "卖家",
    "other": "服务商",
    "chat_side": "双方共用",
    "truth": "以卖家数据为准",
    "known": "成交额、订单数、广告消耗",
    "items": "成交额（卖家 18,000，服务商 18,500）",
    "sides": "卖家、服务商",
    "roles": "管理员、第 1 级升级对接人",
    "contacts": "王总、林晓",
    "levels": "1、2",
    "period": "2026年第45周",
    "formula": "退款金额 ÷ 成交额",
    "reason": "成交额 连续两次进度预警",
    "effects": "满足达成奖励条件",
    "what_if": "成交额 60,000",
    "totals": "成交额 155,000、退款金额 6,300",
    "deal": "深圳万象家居 × 联星出海",
    "name": "深圳万象家居 × 联星出海",
    "who": "王总",
    "note": "已跟进",
    "kind": "confirm",
    "command": "kpi",
}


def fill(template: str) -> str:
    """A zh template filled with Chinese sample values (``12,000`` for anything else)."""
    return template.format(**{p: SAMPLE.get(p, "12,000") for p in placeholders(template)})


def chinese_problems(text: str) -> list[str]:
    """What a native reader would flag in ``text``: ASCII punctuation in Chinese, snake_case."""
    problems = [f"ASCII punctuation: {m.group(0)!r}" for m in ASCII_PUNCT_IN_CJK.finditer(text)]
    for line in text.splitlines():
        # Commands a person types keep their Latin words (/link ... seller|agency|shared).
        prose = re.sub(r"/[a-z]+[^，。；（）]*", "", line)
        problems += [f"snake_case key: {m.group(0)!r}" for m in SNAKE.finditer(prose)]
    return problems


def test_every_chinese_message_renders_without_ascii_punctuation_or_snake_case_keys() -> None:
    bad = {}
    for key, texts in catalog().items():
        problems = chinese_problems(fill(texts["zh"]))
        if problems:
            bad[key] = problems
    assert not bad


def test_the_checker_flags_what_the_review_found() -> None:
    assert chinese_problems("卖家, 服务商尚未上报")
    assert chinese_problems("gmv 0 的提成：0: CNY 0.00") == []  # digits: the label test's job
    assert chinese_problems("本周合计：ad_spend 8,000")
    assert chinese_problems("发送 /history ad_spend 查看") == []
