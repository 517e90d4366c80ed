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


def test_every_help_line_keeps_the_spaced_dash_the_telegram_menu_cuts_at() -> None:
    """The Telegram menu shows the text after the first `` — `` of each ``help.*`` line."""
    help_keys = [k for k in catalog() if k.startswith("help.") and k not in NOT_MENU_LINES]
    assert "help.import" in help_keys
    missing = {
        f"{key} ({lang})": text
        for key in help_keys
        for lang, text in catalog()[key].items()
        if " — " not in text
    }
    assert not missing


# help.* values that are not one command's line (no menu entry is cut from them).
NOT_MENU_LINES = {"help.title", "help.footer", "help.aliases"}

# Words the style guide (1.1, 1.6) replaces, with the word to use instead.
AVOID = {
    "合作": "项目",
    "关联": "绑定",
    "结账": "锁定",
    "试运行": "试运营",
    "佣金": "提成",
    "奖金": "达成奖励",
    "扣款": "绩效扣减",
    "商家": "卖家",
    "账本": "数据",
    "调度器": "定时任务",
    "卖家方": "卖家",
    "服务商方": "服务商",
    "members": "成员名单",
    "YYYY": "日期",
    "yesterday": "昨天",
    "你": "您",
    "！": "。",
    "——": "two sentences",
}


def test_chinese_messages_use_the_style_guides_words() -> None:
    bad = {
        key: [f"{word} → {use}" for word, use in AVOID.items() if word in texts["zh"]]
        for key, texts in catalog().items()
    }
    assert not {key: words for key, words in bad.items() if words}


def test_no_side_placeholder_is_followed_by_fang() -> None:
    """``{side}方`` reads 双方共用方 or 未指定方 for the other values a side can take."""
    fang = re.compile(r"\{(side|other|chat_side|truth)\}方")
    assert not [key for key, texts in catalog().items() if fang.search(texts["zh"])]
