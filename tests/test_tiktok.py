"""TikTok Shop Open API: signing, the authorization callback, the daily sync and its failures."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.core import Delivered, Outgoing, VirtualClock
from bot.settings import Settings
from bot.tiktok.api import ApiError, TikTokShopApi
from bot.tiktok.commands import DailySync, connect_text, sync_text, tiktok_routes
from bot.tiktok.connect import Connector, authorize_url
from bot.tiktok.sign import sign
from bot.tiktok.store import LinkStore, Vault, tiktok_links
from bot.tiktok.sync import RefreshFailed, Syncer, WrongCurrency
from kpi.ledger import Ledger
from kpi.model import Deal
from kpi.platform.parse import ExportTerms, load_export
from kpi.platform.store import PlatformStore, Uploader
from kpi.platform.tables import platform_rows
from tests.conftest import DEMO_DEAL as DEMO
from tests.fakes.tiktok_api import APP_KEY, APP_SECRET, AUTH_CODE, FakeTikTokShop, session

NOW = dt.datetime(2026, 11, 9, 18, tzinfo=dt.UTC)  # Nov 9, 10:00 in Los Angeles
LA = ZoneInfo("America/Los_Angeles")
DEAL = "acme-linkstar-us"
WEEK = [dt.date(2026, 11, 2) + dt.timedelta(days=n) for n in range(7)]
SECRET_KEY = "k" * 40


def week_sessions() -> dict[dt.date, list[dict[str, Any]]]:
    """Two sessions a day, three on Wednesday (so one day needs two pages of two)."""
    out: dict[dt.date, list[dict[str, Any]]] = {}
    for n, day in enumerate(WEEK):
        at = dt.datetime.combine(day, dt.time(19), LA)
        out[day] = [
            session(f"{n}a", at, 60, f"{100 + n}.50", 40 + n),
            session(f"{n}b", at + dt.timedelta(hours=2), 30, "10.25", 5, user="guest"),
        ]
    out[WEEK[2]].append(session("2c", dt.datetime.combine(WEEK[2], dt.time(9), LA), 45, "7", 3))
    return out


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> dt.datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeTikTokShop]:
    server = await FakeTikTokShop(now=clock.now, sessions=week_sessions()).start()
    server.latest_available = WEEK[-1]
    yield server
    await server.aclose()


@pytest.fixture
async def api(fake: FakeTikTokShop, clock: Clock) -> AsyncIterator[TikTokShopApi]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with aiohttp.ClientSession() as http:
        client = TikTokShopApi(
            http, app_key=APP_KEY, app_secret=APP_SECRET, api_url=fake.base,
            auth_url=fake.base, now=clock.now, sleep=sleep, attempts=3,
        )  # fmt: skip
        client.slept = slept  # type: ignore[attr-defined]
        yield client


def settings_for(fake: FakeTikTokShop) -> Settings:
    return Settings(
        tiktok_shop_app_key=APP_KEY,
        tiktok_shop_app_secret=SecretStr(APP_SECRET),
        tiktok_shop_api_url=fake.base,
        tiktok_shop_auth_url=fake.base,
        secret_key=SecretStr(SECRET_KEY),
    )


async def current(ledger: Ledger) -> Deal:
    found = await ledger.current_deal(DEAL)
    assert found is not None
    return found[0]


async def linked(ledger: Ledger, api: TikTokShopApi, clock: Clock) -> LinkStore:
    """The deal linked to the fake shop, as the callback would do it."""
    links = LinkStore(ledger.engine, Vault(SECRET_KEY))
    tokens = await api.token_get(AUTH_CODE)
    shops = await api.shops(tokens.access_token)
    await links.link(DEAL, shops[0], tokens, clock.now())
    return links


def syncer(ledger: Ledger, api: TikTokShopApi, links: LinkStore, clock: Clock) -> Syncer:
    return Syncer(api, links, PlatformStore(ledger.engine), clock.now)


async def row_count(ledger: Ledger, kind: str = "live") -> int:
    query = select(func.count()).select_from(platform_rows).where(platform_rows.c.kind == kind)
    async with ledger.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


# ------------------------------------------------------------------------------- signing


def test_the_signature_matches_tiktoks_published_worked_example() -> None:
    # "Sign your API request": Get Authorized Shops with app_secret e59af819cc.
    params = {"app_key": "29a39d", "timestamp": "1623812664"}
    expected = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    assert sign("e59af819cc", "/authorization/202309/shops", params) == expected


def test_sign_and_access_token_are_not_signed_and_the_body_is() -> None:
    base = sign("s", "/p", {"b": "2", "a": "1"})
    assert sign("s", "/p", {"a": "1", "b": "2", "sign": "x", "access_token": "y"}) == base
    assert sign("s", "/p", {"a": "1", "b": "2"}, b'{"x":1}') != base


def test_without_app_key_the_connection_is_off_and_nothing_else_changes() -> None:
    assert not Settings(secret_key=SecretStr(SECRET_KEY)).tiktok_enabled
    assert not Settings(
        tiktok_shop_app_key="a", tiktok_shop_app_secret=SecretStr("b")
    ).tiktok_enabled


# ------------------------------------------------------------------------------- connect


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/tiktok/callback", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_the_connect_flow_links_the_shop_with_its_tokens_encrypted(
    deal_ledger: Ledger, fake: FakeTikTokShop, clock: Clock
) -> None:
    settings = settings_for(fake)
    vault = Vault(SECRET_KEY)
    links = LinkStore(deal_ledger.engine, vault)
    url = authorize_url(settings, vault, DEAL, clock.now())
    assert url.startswith(f"{fake.base}/oauth/authorize?app_key={APP_KEY}&state=")
    state = parse_qs(urlsplit(url).query)["state"][0]
    connector = Connector(settings, links, vault, deal_ledger.current_deal, clock.now)
    runner = await serve(connector.callback)
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            query = {"code": AUTH_CODE, "state": state}
            async with http.get(f"http://127.0.0.1:{port}/tiktok/callback", params=query) as r:
                assert r.status == 200
                assert "Acme US (US) is linked to deal acme-linkstar-us." in await r.text()
            clock.at += dt.timedelta(hours=2)  # the link is for one hour
            async with http.get(f"http://127.0.0.1:{port}/tiktok/callback", params=query) as r:
                assert r.status == 400
                assert "not valid or has expired" in await r.text()
    finally:
        await runner.cleanup()
    link = await links.get(DEAL)
    assert link is not None
    assert (link.shop.name, link.shop.cipher) == ("Acme US", "ROW_fake_cipher")
    assert link.tokens.access_token in fake.access_tokens
    async with deal_ledger.engine.connect() as conn:
        stored = (await conn.execute(select(tiktok_links))).one()
    assert "TTP_" not in stored.access_token + stored.refresh_token  # encrypted at rest
    assert [p for p, _ in fake.requests] == [
        "/api/v2/token/get",
        "/authorization/202309/shops",
    ]
    assert fake.refused == []


async def test_a_forged_state_links_nothing(
    deal_ledger: Ledger, fake: FakeTikTokShop, clock: Clock
) -> None:
    vault = Vault(SECRET_KEY)
    links = LinkStore(deal_ledger.engine, vault)
    other = Vault("another secret key of forty characters..")
    forged = other.seal(DEAL, clock.now())
    connector = Connector(settings_for(fake), links, vault, deal_ledger.current_deal, clock.now)
    runner = await serve(connector.callback)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/tiktok/callback"
            async with http.get(url, params={"code": AUTH_CODE, "state": forged}) as r:
                assert r.status == 400
    finally:
        await runner.cleanup()
    assert await links.get(DEAL) is None and fake.requests == []


# ---------------------------------------------------------------------------------- sync


async def test_a_week_is_synced_page_by_page_into_the_platform_sessions(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    result = await syncer(deal_ledger, api, links, clock).sync(
        await current(deal_ledger), since=WEEK[0]
    )
    assert (result.fetched, result.final) == (WEEK, WEEK)
    assert (result.rows, result.stored) == (15, 15)
    store = PlatformStore(deal_ledger.engine)
    sessions = await store.sessions(DEAL, WEEK[0], WEEK[-1])
    assert len(sessions) == 15
    first = sessions[0]
    assert (first.creator_id, first.start, first.duration) == (
        "acme",
        dt.datetime(2026, 11, 2, 19, tzinfo=LA),
        dt.timedelta(hours=1),
    )
    figures = await store.day_figures(DEAL, WEEK[0], WEEK[-1])
    assert figures[WEEK[0]]["live_gmv"] == Decimal("110.75")
    assert figures[WEEK[2]]["sessions"] == 3 and figures[WEEK[2]]["viewers"] == 42 + 5 + 3
    # The shop's own day figures come as one row a day, beside the sessions.
    assert result.days_stored == 7 and await row_count(deal_ledger, "shop") == 7
    assert figures[WEEK[2]]["shop_gmv"] == Decimal("102.50") + Decimal("10.25") + 7
    assert figures[WEEK[2]]["shop_orders"] == 3
    pages = [q.get("page_token") for p, q in fake.requests if p.endswith("shop_lives/performance")]
    assert pages.count("2") == 1  # Wednesday's second page
    assert fake.refused == []


async def test_a_second_sync_stores_nothing_new_and_fetches_only_days_not_final(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    deal = await current(deal_ledger)
    fake.latest_available = WEEK[4]  # the last two days are not final yet
    first = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert first.final == WEEK[:5] and first.stored == 15
    store = PlatformStore(deal_ledger.engine)
    recorded = len(await store.imports(DEAL, limit=100))
    again = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert (again.fetched, again.stored) == (WEEK[5:], 0)
    assert len(await store.imports(DEAL, limit=100)) == recorded  # /history: no empty fetches
    fake.sessions[WEEK[6]][0]["sales_performance"]["gmv"]["amount"] = "999.00"  # revised
    fake.latest_available = WEEK[6]
    last = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert (last.fetched, last.final, last.stored) == (WEEK[5:], WEEK[5:], 1)
    assert await row_count(deal_ledger) == 16  # the revised session supersedes, once
    assert await row_count(deal_ledger, "shop") == 8  # and so does its day's performance
    figures = await PlatformStore(deal_ledger.engine).day_figures(DEAL, WEEK[6], WEEK[6])
    assert figures[WEEK[6]]["live_gmv"] == Decimal("1009.25")
    nothing = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert nothing.fetched == []


async def test_a_sync_stopped_halfway_resumes_without_duplicates(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    deal = await current(deal_ledger)
    # Wednesday's second page (and everything after it) fails: the sync stops there.
    wednesday = WEEK[2].isoformat()
    fake.down = lambda q: q["start_date_ge"] > wednesday or q.get("page_token") == "2"
    with pytest.raises(ApiError):
        await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert await row_count(deal_ledger) == 2 + 2 + 2  # Mon, Tue, Wednesday's first page
    assert await links.final_days(DEAL, WEEK[0], WEEK[-1]) == set(WEEK[:2])
    fake.down = None
    resumed = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert resumed.fetched == WEEK[2:] and resumed.stored == 15 - 6
    assert await row_count(deal_ledger) == 15
    assert len(await PlatformStore(deal_ledger.engine).sessions(DEAL, WEEK[0], WEEK[-1])) == 15


async def test_a_sync_killed_while_waiting_for_a_page_resumes_without_duplicates(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    deal = await current(deal_ledger)
    fake.hang = lambda q: q.get("page_token") == "2"  # Wednesday's second page
    task = asyncio.create_task(syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0]))
    await asyncio.wait_for(fake.hung.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await row_count(deal_ledger) == 6
    fake.hang = None
    resumed = await syncer(deal_ledger, api, links, clock).sync(deal, since=WEEK[0])
    assert resumed.fetched == WEEK[2:] and resumed.stored == 9
    assert await row_count(deal_ledger) == 15


async def test_429_and_5xx_back_off_with_jitter_and_the_sync_carries_on(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    fake.fail = [429, 503]
    result = await syncer(deal_ledger, api, links, clock).sync(
        await current(deal_ledger), since=WEEK[0]
    )
    assert result.stored == 15
    slept = api.slept  # type: ignore[attr-defined]
    assert len(slept) == 2 and 0 <= slept[0] <= 1 and 0 <= slept[1] <= 2


async def test_an_expired_token_is_refreshed_once_and_the_new_tokens_are_kept(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    before = await links.get(DEAL)
    fake.expire = 1
    result = await syncer(deal_ledger, api, links, clock).sync(
        await current(deal_ledger), since=WEEK[0]
    )
    assert result.stored == 15
    after = await links.get(DEAL)
    assert before is not None and after is not None
    assert after.tokens.access_token != before.tokens.access_token
    assert [p for p, _ in fake.requests].count("/api/v2/token/refresh") == 1


async def test_tokens_close_to_expiry_are_refreshed_before_the_sync(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    clock.at += dt.timedelta(days=6, hours=20)  # the access token has 4 hours left
    await syncer(deal_ledger, api, links, clock).sync(await current(deal_ledger), since=WEEK[0])
    paths = [p for p, _ in fake.requests]
    assert paths.index("/api/v2/token/refresh") < paths.index(
        "/analytics/202509/shop_lives/performance"
    )


async def test_a_refresh_that_fails_is_reported_not_retried_forever(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    links = await linked(deal_ledger, api, clock)
    fake.expire = 10
    fake.refresh_broken = True
    with pytest.raises(RefreshFailed):
        await syncer(deal_ledger, api, links, clock).sync(await current(deal_ledger), since=WEEK[0])
    assert [p for p, _ in fake.requests].count("/api/v2/token/refresh") == 1
    assert await row_count(deal_ledger) == 0


async def test_a_request_signed_with_a_stale_clock_is_refused_by_the_fake(
    deal_ledger: Ledger, fake: FakeTikTokShop, clock: Clock
) -> None:
    async with aiohttp.ClientSession() as http:
        late = TikTokShopApi(
            http, app_key=APP_KEY, app_secret=APP_SECRET, api_url=fake.base, auth_url=fake.base,
            now=lambda: NOW - dt.timedelta(minutes=6),
        )  # fmt: skip
        tokens = await late.token_get(AUTH_CODE)
        with pytest.raises(ApiError):
            await late.shops(tokens.access_token)
    assert fake.refused == ["timestamp"]


async def test_an_api_session_and_an_imported_row_of_it_are_one_entry(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    data = (
        b"Creator ID,Creator,Launched Time,Duration,LIVE gross merchandise value ($),Viewers\n"
        b"acme,Acme,2026-11-02 19:00,01:00:00,100.50,40\n"
    )
    terms = ExportTerms("USD", "America/Los_Angeles", dt.date(2026, 11, 1))
    store = PlatformStore(deal_ledger.engine)
    await store.import_export(
        DEAL, load_export(data, "live.csv", terms), data=data, file_name="live.csv",
        uploader=Uploader("telegram:5001", "Mia", "telegram:-1001"), now=NOW,
    )  # fmt: skip
    fake.sessions = {WEEK[0]: fake.sessions[WEEK[0]][:1]}
    links = await linked(deal_ledger, api, clock)
    await syncer(deal_ledger, api, links, clock).sync(await current(deal_ledger), since=WEEK[0])
    sessions = await store.sessions(DEAL, WEEK[0], WEEK[0])
    assert len(sessions) == 1
    assert sessions[0].figures["live_gmv"] == Decimal("100.50")


async def test_figures_in_another_currency_store_nothing(
    deal_ledger: Ledger, api: TikTokShopApi, fake: FakeTikTokShop, clock: Clock
) -> None:
    fake.sessions[WEEK[0]][0]["sales_performance"]["gmv"]["currency"] = "MYR"
    links = await linked(deal_ledger, api, clock)
    with pytest.raises(WrongCurrency):
        await syncer(deal_ledger, api, links, clock).sync(await current(deal_ledger), since=WEEK[0])
    assert await row_count(deal_ledger) == 0


# ------------------------------------------------------------------- commands and the daily job


@dataclass
class Port:
    """Records what the bot sends."""

    platform: str = "*"
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> Delivered:
        self.sent.append(message)
        return Delivered(ok=True, message_id=f"m{len(self.sent)}")


@pytest.fixture
async def core(sqlite_url: str, fake: FakeTikTokShop) -> AsyncIterator[Core]:
    settings = settings_for(fake).model_copy(update={"database_url": sqlite_url})
    built = await build_core(settings, clock=VirtualClock(NOW))
    text = DEMO.read_text(encoding="utf-8").replace(
        '  pace_check: "10:00"\n', '  pace_check: "10:00"\n  platform_sync: "06:00"\n'
    )
    await built.apply_deal_text(text, "acme.yaml")
    yield built
    await built.aclose()


async def test_kpibot_tiktok_connect_and_sync_say_what_to_do_and_what_happened(
    core: Core, fake: FakeTikTokShop
) -> None:
    assert await sync_text(core, DEAL, None) == (
        1,
        "Deal acme-linkstar-us has no TikTok shop linked yet. Run kpibot tiktok connect "
        "--deal acme-linkstar-us and send the seller the link.",
    )
    text = await connect_text(core, DEAL)
    assert text.startswith("Send this link to the seller of deal acme-linkstar-us.")
    assert f"{fake.base}/oauth/authorize?app_key={APP_KEY}&state=" in text
    with pytest.raises(LookupError):
        await connect_text(core, "no-such-deal")
    async with aiohttp.ClientSession() as http:
        api = TikTokShopApi(http, app_key=APP_KEY, app_secret=APP_SECRET, api_url=fake.base,
                            auth_url=fake.base, now=core.clock.now)  # fmt: skip
        await linked(core.ledger, api, Clock())
    status, line = await sync_text(core, DEAL, WEEK[0])
    assert (status, line) == (
        0,
        "TikTok Shop sync of acme-linkstar-us: 7 day(s) fetched, 7 final; 15 LIVE session(s) "
        "seen, 15 new or changed; shop performance of 7 day(s) new or changed. Data available "
        "up to 2026-11-08.",
    )


async def test_the_daily_sync_runs_once_a_day_at_its_time_and_escalates_a_failed_refresh(
    core: Core, fake: FakeTikTokShop, clock: Clock
) -> None:
    async with aiohttp.ClientSession() as http:
        api = TikTokShopApi(http, app_key=APP_KEY, app_secret=APP_SECRET, api_url=fake.base,
                            auth_url=fake.base, now=core.clock.now)  # fmt: skip
        await linked(core.ledger, api, Clock())
    port = Port()
    core.add_port(port)
    daily = DailySync(core)
    early = dt.datetime(2026, 11, 9, 5, 59, tzinfo=LA)
    await daily.tick(early.astimezone(dt.UTC))
    assert await row_count(core.ledger) == 0  # before 06:00 in Los Angeles
    await daily.tick(dt.datetime(2026, 11, 9, 6, 0, tzinfo=LA))
    assert await row_count(core.ledger) == 15  # Nov 1 (the deal start) to Nov 8
    served = len(fake.requests)
    await daily.tick(dt.datetime(2026, 11, 9, 9, 0, tzinfo=LA))
    assert len(fake.requests) == served  # once a day
    fake.expire = 10
    fake.refresh_broken = True
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(dt.datetime(2026, 11, 10, 6, 0, tzinfo=LA))
    clock.at = core.clock.now()  # the fake's clock too
    await daily.tick(core.clock.now())
    assert {m.to for m in port.sent} == {"telegram:-1001234", "slack:C0AGENCY", "telegram:-1009999"}
    message = port.sent[0]
    assert message.kind == "escalation" and message.mentions == ("telegram:5001", "slack:U0AGENCY2")
    assert message.text.startswith(
        "The TikTok Shop authorization of deal acme-linkstar-us could not be renewed"
    )


async def test_the_callback_is_served_only_while_the_connection_is_configured(core: Core) -> None:
    assert [(m, p) for m, p, _ in tiktok_routes(core)] == [("GET", "/tiktok/callback")]
    core.settings = core.settings.model_copy(update={"tiktok_shop_app_key": None})
    assert tiktok_routes(core) == []
