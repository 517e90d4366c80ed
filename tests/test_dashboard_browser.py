"""The dashboard in a real browser: Playwright driving Debian's chromium against ``kpibot web``.

The server runs as its own process on a month of the demo. The tests open a link from
``kpibot dashboard-link``, check the figures against the ledger, switch language (and check
the Chinese is drawn with a CJK font), download the XLSX, and try a tampered link. Every page
is saved as a screenshot in the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.app import build_core, run_replay
from bot.cli import app
from bot.core import VirtualClock
from bot.core.render import fmt_value
from bot.replay import demo_files, parse_script
from bot.settings import Settings
from kpi.periods import period_by_label
from kpi.snapshot import snapshot

WANXIANG_FILE = Path(__file__).resolve().parents[1] / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml"

pytestmark = pytest.mark.slow
T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "browser-test-secret"
ACME, WANXIANG = "acme-linkstar-us", "shenzhen-wanxiang-cn"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.db'}"
    texts, script = demo_files()
    texts.append((WANXIANG_FILE.name, WANXIANG_FILE.read_text(encoding="utf-8")))
    asyncio.run(run_replay(texts, parse_script(script), db_url=url))
    return url


@pytest.fixture(scope="module")
def server(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": demo_db,
        "SECRET_KEY": SECRET,
        "HTTP_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "DEBUG",
    }
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "web"], env=env, stdout=out, stderr=out,
            cwd=log.parent,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.2)
        yield {"env": env, "log": log, "port": port}
    finally:
        process.terminate()
        process.wait(timeout=20)


def apart(work: Callable[[], T]) -> T:
    """Run ``work`` in another thread: Playwright's sync API keeps an event loop running in
    this one, and the CLI and the ledger reads start their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def link(server: dict[str, Any], deal: str, side: str = "seller") -> str:
    env = {k: server["env"][k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL")}
    args = ["dashboard-link", "--deal", deal, "--side", side]
    result = apart(lambda: CliRunner().invoke(app, args, env=env))
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    yield page
    context.close()


def ledger_november(db: str) -> Any:
    async def read() -> Any:
        settings = Settings(database_url=db, _env_file=None)  # type: ignore[call-arg]
        core = await build_core(
            settings, clock=VirtualClock(dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
        )
        try:
            current = await core.ledger.current_deal(ACME)
            assert current is not None
            deal = current[0]
            period = period_by_label(deal.starts, deal.period, "2026-11")
            snap = await snapshot(core.ledger, deal, dt.date(2026, 12, 2), period=period)
            trail = await core.ledger.entries_between(ACME, period.start, period.end)
            return snap, trail
        finally:
            await core.aclose()

    return apart(lambda: asyncio.run(read()))


def font_families(page: Any, selector: str) -> set[str]:
    """The fonts chromium actually drew a node's text with (DevTools' CSS domain)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {f["familyName"] for f in fonts}


def test_the_page_shows_the_ledgers_figures_then_switches_to_chinese(
    server: dict[str, Any], demo_db: str, page: Any, tmp_path: Path
) -> None:
    snap, trail = ledger_november(demo_db)
    url = link(server, ACME) + "?period=2026-11"
    response = page.goto(url)
    assert response.status == 200
    page.screenshot(path=tmp_path / "1-dashboard-en.png", full_page=True)
    deal = snap.deal
    gmv = page.locator('#glance tr[data-metric="gmv"] td.actual').inner_text()
    assert gmv == fmt_value(deal, "gmv", snap.totals.values["gmv"]) == "79,930"
    assert "USD 7,102.80" in page.locator("#glance .fees").inner_text()
    for (day, metric), figure in snap.figures.items():
        if metric != "gmv" or figure.seller is None:
            continue
        row = page.locator(f'#daily tr[data-day="{day.isoformat()}"][data-metric="gmv"]')
        assert row.locator("td").nth(2).inner_text() == fmt_value(deal, "gmv", figure.seller.value)
        assert ("contested" in (row.get_attribute("class") or "")) == figure.contested
    assert page.locator("#daily tr.contested").count() == sum(
        1 for f in snap.figures.values() if f.contested and f.metric in deal.base_metrics
    )
    # The audit trail: every entry of the period, corrections and what they replaced.
    assert page.locator("#audit tr[data-entry]").count() == len(trail)
    superseded = {e.supersedes for e in trail if e.supersedes is not None}
    assert superseded
    assert page.locator("#audit tr.superseded").count() == len(superseded)
    page.click("#switch-language")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert "考核期 2026-11" in page.locator("#period-heading").inner_text()
    page.screenshot(path=tmp_path / "2-dashboard-zh.png", full_page=True)
    assert any("CJK" in f for f in font_families(page, "#period-heading")), font_families(
        page, "#period-heading"
    )
    assert page.errors == []  # no CSP violation, no failed resource
    page.click("#periods a >> nth=0")  # the newest period, still in Chinese
    page.wait_for_load_state()
    assert "2026-11" not in page.locator("#period-heading").inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"


def test_the_xlsx_download_reads_back_with_the_ledgers_figures(
    server: dict[str, Any], demo_db: str, page: Any, tmp_path: Path
) -> None:
    snap, _trail = ledger_november(demo_db)
    page.goto(link(server, ACME, "agency") + "?period=2026-11")
    with page.expect_download() as info:
        page.click("#download-xlsx")
    download = info.value
    assert download.suggested_filename == "acme-linkstar-us-2026-11.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = load_workbook(saved)
    daily = list(book["daily"].iter_rows(min_row=2, values_only=True))
    gmv = sum(Decimal(r[4]) for r in daily if r[1] == "gmv" and r[4] is not None)
    assert gmv == snap.totals.values["gmv"]
    total = [r for r in book["statement"].iter_rows(min_row=2, values_only=True) if r[2] == "total"]
    assert total[-1][4] == "7102.80"
    ledger_ids = {int(r[0]) for r in book["ledger"].iter_rows(min_row=2, values_only=True)}
    assert {e.id for e in snap.entries} <= ledger_ids


def test_a_chinese_deal_opens_in_chinese(server: dict[str, Any], page: Any, tmp_path: Path) -> None:
    page.goto(link(server, WANXIANG, "shared"))
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert "看板" in page.title() and "深圳万象家居" in page.title()
    page.screenshot(path=tmp_path / "3-dashboard-zh-deal.png", full_page=True)
    assert any("CJK" in f for f in font_families(page, "h1"))


def test_a_tampered_link_gets_403_naming_no_deal(
    server: dict[str, Any], page: Any, tmp_path: Path
) -> None:
    url = link(server, ACME)
    tampered = url[:-3] + ("xyz" if not url.endswith("xyz") else "abc")
    response = page.goto(tampered)
    assert response.status == 403
    text = page.locator("body").inner_text()
    assert "This link does not work" in text and "此链接无法打开" in text
    assert "ACME" not in text and "acme" not in page.content()
    page.screenshot(path=tmp_path / "4-refused.png", full_page=True)


def test_the_servers_log_never_holds_a_token(server: dict[str, Any], page: Any) -> None:
    url = link(server, ACME)
    page.goto(url)
    page.goto(url[:-2] + "zz")
    token = url.rsplit("/", 1)[1]
    log = server["log"].read_text()
    assert "dashboard page" in log and "refused" in log
    assert token[-16:] not in log


def test_screenshots_are_kept_for_review(tmp_path: Path) -> None:
    """Copy this module's screenshots to KPIBOT_SCREENSHOTS when set (for a person to look)."""
    target = os.environ.get("KPIBOT_SCREENSHOTS")
    if not target:
        pytest.skip("KPIBOT_SCREENSHOTS is not set")
    for png in tmp_path.parent.parent.glob("**/*.png"):
        shutil.copy(png, Path(target) / png.name)
