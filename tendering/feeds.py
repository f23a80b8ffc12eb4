"""The Atom feed of published announcements (招标公告订阅)."""

from __future__ import annotations

import datetime as dt

from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tendering import selectors
from tendering.models import Tender, TenderStatus
from tendering.regions import region_name

FEED_SIZE = 50


class AnnouncementFeed(Feed):
    feed_type = Atom1Feed
    title = _("阳光开标 · 招标公告")
    subtitle = _("公共资源交易平台最新发布的招标公告，含各标段最高投标限价与投标截止时间。")
    description_template = "portal/feed_item.html"

    def link(self) -> str:
        return reverse("portal:announcements")

    def feed_url(self) -> str:
        return reverse("portal:feed")

    def items(self) -> QuerySet[Tender]:
        return selectors.portal_tenders()[:FEED_SIZE]

    def item_title(self, item: Tender) -> str:
        if item.status == TenderStatus.CANCELLED:
            return gettext("【已终止】%(title)s") % {"title": item.title}
        return item.title

    def item_link(self, item: Tender) -> str:
        return reverse("portal:announcement", args=[item.pk])

    def item_pubdate(self, item: Tender) -> dt.datetime | None:
        return item.published_at

    def item_author_name(self, item: Tender) -> str:
        return item.agency.name

    def item_categories(self, item: Tender) -> list[str]:
        return [str(item.get_category_display()), region_name(item.region)]
