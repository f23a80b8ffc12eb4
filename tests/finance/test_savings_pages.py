"""The savings report pages: filter, table, charts, drill-down ledger, and who may see them.

Three lots awarded in 2025 (Beijing time): alice's agency's construction lot
in January (control 1,000,000.00, award 950,000.00) and medical lot in
April (3,000,000.00, 2,700,000.00), agnes's agency's government lot in March
(800,000.00, 799,999.99). All three: control 4,800,000.00, savings
350,000.01, rate 7.2916…% → 7.29%; alice's two: 4,000,000.00, 350,000.00,
8.75%.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from finance import selectors

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
YEAR_2025 = "period=year&year=2025"
ALLOWED = ("fay", "pat", "alice", "agnes")
REFUSED = ("bob", "carol", "terry", "sam", "eve")


@pytest.fixture
def awards(savings_award):
    return {
        "jan": savings_award(at=dt.datetime(2025, 1, 15, 10, tzinfo=SH), control="1000000.00", award="950000.00",
                             name="一月工程标段"),
        "mar": savings_award(at=dt.datetime(2025, 3, 20, 10, tzinfo=SH), control="800000.00", award="799999.99",
                             agent="agnes", category="government", name="三月采购标段"),
        "apr": savings_award(at=dt.datetime(2025, 4, 1, 9, tzinfo=SH), control="3000000.00", award="2700000.00",
                             category="medical", name="四月医疗标段"),
    }


def _get(people, person: str, url: str):
    client = Client()
    client.force_login(people[person])
    return client.get(url)


def test_finance_sees_the_years_report_with_table_charts_and_exports(awards, people):
    response = _get(people, "fay", f"/finance/savings/?{YEAR_2025}&by=category")
    assert response.status_code == 200
    page = response.content.decode()
    assert "2025年节约资金统计（按交易类别）" in page
    assert "全部代理机构" in page
    for text in ("工程建设", "政府采购", "药品和医用耗材采购", "4,800,000.00", "350,000.01", "7.29%", "10.00%"):
        assert text in page, text
    # Both charts are inline SVG with a title and a description, and a table of the same figures.
    assert page.count('role="img"') == 2
    assert '<title id="chart-months-title">各月节约资金（万元）</title>' in page
    assert '<desc id="chart-months-desc">共 12 个月，节约资金合计 350,000.01 元；最高为 2025年4月，300,000.00 元。</desc>' in page
    assert '<title id="chart-categories-title">各交易类别节约率</title>' in page
    assert "以表格查看各月数据" in page and "以表格查看各交易类别数据" in page
    assert "<script" not in page.split("<main", 1)[1], "no chart script"
    # Every figure links to its lots; the bars too; the exports carry the same parameters.
    assert "/finance/savings/lots/?period=year&amp;year=2025&amp;by=category&amp;key=medical" in page
    assert "/finance/savings/lots/?period=year&amp;year=2025&amp;by=month&amp;key=2025-04" in page
    for fmt in ("csv", "xlsx", "pdf"):
        assert f"/finance/savings/export.{fmt}?period=year&amp;year=2025&amp;by=category" in page


def test_the_page_opens_on_this_year_by_month(awards, people):
    with time_machine.travel(dt.datetime(2025, 6, 30, 12, tzinfo=SH), tick=False):
        response = _get(people, "fay", "/finance/savings/")
    report = response.context["report"]
    assert (report.period.start, report.period.end, report.by) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31), "month")
    assert report.total == selectors.Figure(lots=3, control_fen=480_000_000, award_fen=444_999_999)


def test_a_wrong_filter_is_explained_in_chinese(people):
    page = _get(people, "fay", "/finance/savings/?period=range&start=2025-05-01&end=2025-04-01&by=month")
    assert "结束日期不能早于开始日期。" in page.content.decode()
    assert page.context.get("report") is None
    assert "请选择月份。" in _get(people, "fay", "/finance/savings/?period=month&year=2025&by=month").content.decode()
    assert "自定义期间不能超过十年。" in _get(
        people, "fay", "/finance/savings/?period=range&start=2000-01-01&end=2020-01-01&by=month"
    ).content.decode()
    refused = _get(people, "fay", "/finance/savings/export.csv?period=year&year=1900&by=month")
    assert refused.status_code == 400
    assert "统计条件有误" in refused.content.decode()


def test_an_agent_sees_only_their_agencys_lots_in_the_page_and_the_drill_down(awards, people):
    page = _get(people, "alice", f"/finance/savings/?{YEAR_2025}&by=agency").content.decode()
    assert "本机构（华信招标代理有限公司）" in page
    assert "350,000.00" in page and "8.75%" in page
    assert "远景工程咨询有限公司" not in page and "799,999.99" not in page
    lots = _get(people, "alice", f"/finance/savings/lots/?{YEAR_2025}&by=month").content.decode()
    assert "一月工程标段" in lots and "四月医疗标段" in lots and "三月采购标段" not in lots
    agnes = _get(people, "agnes", f"/finance/savings/lots/?{YEAR_2025}&by=month").content.decode()
    assert "三月采购标段" in agnes and "一月工程标段" not in agnes
    # A figure of another agency cannot be opened by guessing its key.
    other = str(people["agnes"].organisation_id)
    assert _get(people, "alice", f"/finance/savings/lots/?{YEAR_2025}&by=agency&key={other}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        f"/finance/savings/?{YEAR_2025}&by=month",
        f"/finance/savings/lots/?{YEAR_2025}&by=category&key=construction",
        f"/finance/savings/export.csv?{YEAR_2025}&by=month",
        f"/finance/savings/export.xlsx?{YEAR_2025}&by=month",
        f"/finance/savings/export.pdf?{YEAR_2025}&by=month",
        f"/finance/savings/lots/export.csv?{YEAR_2025}&by=month",
        f"/finance/savings/lots/export.xlsx?{YEAR_2025}&by=month",
    ],
)
def test_finance_administrators_and_agents_are_let_in_and_everyone_else_is_refused(url, people):
    for person in ALLOWED:
        assert _get(people, person, url).status_code == 200, person
    for person in REFUSED:
        response = _get(people, person, url)
        assert response.status_code == 403, person
        assert "只有财务人员、平台管理员和代理机构经办人可以查看节约率报表。" in response.content.decode()
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_an_unknown_export_format_is_not_found(people):
    assert _get(people, "fay", f"/finance/savings/export.docx?{YEAR_2025}&by=month").status_code == 404
    assert _get(people, "fay", f"/finance/savings/lots/export.pdf?{YEAR_2025}&by=month").status_code == 404
    assert _get(people, "bob", f"/finance/savings/export.docx?{YEAR_2025}&by=month").status_code == 403


def test_the_drill_down_is_kept_like_an_account_book_and_its_last_page_equals_the_figure(
    awards, people, monkeypatch
):
    monkeypatch.setattr(selectors, "DRILL_PAGE_SIZE", 2)
    first = _get(people, "fay", f"/finance/savings/lots/?{YEAR_2025}&by=month").content.decode()
    assert "第 1 页，共 2 页" in first
    assert "一月工程标段" in first and "三月采购标段" in first and "四月医疗标段" not in first
    assert "过次页（累计 2 个标段）" in first and "核对无误" not in first
    last = _get(people, "fay", f"/finance/savings/lots/?{YEAR_2025}&by=month&page=2").content.decode()
    assert "承前页（2 个标段）" in last and "四月医疗标段" in last
    # Carried forward 50,000.01, this lot 300,000.00: the running total is the report's figure.
    assert re.search(r"承前页.*?1,800,000.00.*?1,749,999.99.*?50,000.01", last, re.S)
    assert "累计（全部 3 个标段）" in last and "报表数字" in last
    assert last.count("350,000.01") >= 3
    assert "核对无误：全部标段逐一相加，与报表数字分毫不差。" in last
    assert f'href="/announcements/{awards["apr"].tender_id}/"' in last


def test_the_finance_dashboard_reads_the_same_figures_and_links_to_the_reports(awards, people):
    page = _get(people, "fay", "/accounts/?start=2025-01-01&end=2025-12-31").content.decode()
    assert "350,000.01" in page and "7.29%" in page
    assert "/finance/savings/?period=range&amp;start=2025-01-01&amp;end=2025-12-31&amp;by=month" in page
    assert 'href="/finance/savings/"' in _get(people, "alice", "/accounts/").content.decode()
