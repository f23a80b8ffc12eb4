"""Who gets the seal page, and what the server says in it (no browser needed)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.urls import reverse

from tendering import services as tendering
from tendering.models import Lot


@pytest.fixture
def lot(published, people) -> Lot:
    lot = published.lots.get()
    tendering.documents_obtain(actor=people["bob"], tender=published)
    return lot


def seal_url(lot: Lot) -> str:
    return reverse("bidding:seal", args=[lot.pk])


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="seal-config" type="application/json">') + len(
        '<script id="seal-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_a_bidder_whose_organisation_obtained_the_documents_gets_the_seal_page(client, lot, people):
    client.force_login(people["bob"])

    response = client.get(seal_url(lot), HTTP_HOST="localhost")

    assert response.status_code == 200
    assert lot.name in response.content.decode()
    config = page_config(response)
    assert config["lot"] == lot.pk
    assert config["api_lot"] == reverse("bidding_api:lot", args=[lot.pk])
    assert config["organisation"] == people["bob"].organisation.credit_code
    assert config["csrf_token"]
    assert config["texts"]["held"] == "本浏览器持有该密钥的私钥"
    assert 'id="seal-insecure" hidden' in response.content.decode()


@pytest.mark.parametrize("name", ["carol", "alice", "sam"])
def test_anyone_else_gets_not_found(client, lot, people, name):
    client.force_login(people[name])

    assert client.get(seal_url(lot)).status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(client, lot):
    response = client.get(seal_url(lot))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_after_the_deadline_the_page_is_gone(client, lot, people):
    with time_machine.travel(lot.bid_deadline + dt.timedelta(seconds=1), tick=False):
        client.force_login(people["bob"])
        response = client.get(seal_url(lot))

    assert response.status_code == 404


def test_over_plain_http_on_a_public_name_the_page_says_https_is_required(
    client, lot, people, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "bid.example.cn"]
    client.force_login(people["bob"])

    plain = client.get(seal_url(lot), HTTP_HOST="bid.example.cn").content.decode()
    secure = client.get(seal_url(lot), HTTP_HOST="bid.example.cn", secure=True).content.decode()

    assert '<div class="alert alert-danger" id="seal-insecure" role="alert">' in plain
    assert "需要安全连接（https）" in plain
    assert 'id="seal-insecure" hidden' in secure
