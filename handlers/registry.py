"""The command registry: every chat command, its handler, and what it needs."""

from __future__ import annotations

from bot.core.context import Route
from handlers import dashboard, escalation, export, fee, general, imports, kpi, report, statement

ROUTES: dict[str, Route] = {
    "report": Route(report.report),
    "kpi": Route(kpi.kpi),
    "fee": Route(fee.fee),
    "whatif": Route(fee.whatif),
    "statement": Route(statement.statement),
    "history": Route(imports.history),
    "confirm": Route(report.confirm),
    "dispute": Route(report.dispute),
    "ack": Route(escalation.ack),
    "escalations": Route(escalation.escalations),
    "help": Route(general.help_, needs_deal=False),
    "start": Route(general.help_, needs_deal=False),
    "whoami": Route(general.whoami, needs_deal=False),
    "link": Route(general.link, needs_deal=False),
    "unlink": Route(general.unlink, admin=True),
    "dashboard": Route(dashboard.dashboard),
    "export": Route(export.export),
    "import": Route(imports.import_),
    "sessions": Route(imports.sessions),
}

ALIASES: dict[str, str] = {
    "r": "report",
    "上报": "report",
    "报数": "report",
    "指标": "kpi",
    "服务费": "fee",
    "费用": "fee",
    "假设": "whatif",
    "测算": "whatif",
    "帮助": "help",
    "我是谁": "whoami",
    "历史": "history",
    "确认": "confirm",
    "异议": "dispute",
    "收到": "ack",
    "升级": "escalations",
    "进度": "kpi",
    "结算单": "statement",
    "结算": "statement",
    "明细": "history",
    "升级记录": "escalations",
    "绑定": "link",
    "解绑": "unlink",
    "看板": "dashboard",
    "导出": "export",
    "导入": "import",
    "场次": "sessions",
    "直播场次": "sessions",
}
"""Command words besides the Latin names. Telegram and Slack deliver only Latin slash commands,
so the Chinese words work after a mention (``@kpibot 上报 成交额 1.2万``), after ``/kpibot`` on
Slack, and as typed in the console; ``/help`` in Chinese lists them (``help.aliases``)."""
