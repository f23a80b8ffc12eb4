"""The message list: unread first, marked read one by one or all at once, only one's own."""

from __future__ import annotations

from accounts.models import Notification
from accounts.services import notify_users


def _notify(user, title, url=""):
    (notification,) = notify_users([user], title=title, body="正文", url=url)
    return Notification.objects.get(pk=notification.pk)


def test_unread_messages_come_first(client, people):
    bob = people["bob"]
    older = _notify(bob, "较早的未读消息")
    read = _notify(bob, "已经读过的消息")
    newer = _notify(bob, "最新的未读消息")
    client.force_login(bob)
    client.post(f"/accounts/notifications/{read.pk}/read/")

    page = client.get("/accounts/notifications/").content.decode()
    positions = [page.index(n.title) for n in (newer, older, read)]
    assert positions == sorted(positions)


def test_marking_one_read_changes_only_that_one(client, people):
    bob = people["bob"]
    first, second = _notify(bob, "消息一"), _notify(bob, "消息二")
    client.force_login(bob)
    response = client.post(f"/accounts/notifications/{first.pk}/read/")
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None
    assert second.read_at is None


def test_opening_a_message_marks_it_read_and_follows_its_link(client, people, published):
    bob = people["bob"]
    notification = _notify(bob, "澄清公告", url=f"/announcements/{published.pk}/")
    client.force_login(bob)
    response = client.post(f"/accounts/notifications/{notification.pk}/read/", {"open": "1"})
    assert response["Location"] == f"/announcements/{published.pk}/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_another_users_message_cannot_be_marked_read(client, people):
    bobs = _notify(people["bob"], "给 Bob 的消息")
    client.force_login(people["carol"])
    response = client.post(f"/accounts/notifications/{bobs.pk}/read/")
    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.read_at is None
    assert "给 Bob 的消息" not in client.get("/accounts/notifications/").content.decode()


def test_mark_all_read_touches_only_ones_own_messages(client, people):
    bob, carol = people["bob"], people["carol"]
    _notify(bob, "Bob 一")
    _notify(bob, "Bob 二")
    carols = _notify(carol, "Carol 一")
    client.force_login(bob)
    assert client.get("/accounts/notifications/read-all/").status_code == 405
    client.post("/accounts/notifications/read-all/")
    assert not Notification.objects.filter(recipient=bob, read_at__isnull=True).exists()
    carols.refresh_from_db()
    assert carols.read_at is None
