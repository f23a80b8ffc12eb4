"""The browser sealing page: the bid is sealed and uploaded by the page's script.

The server renders the frame and the translated texts; everything secret
happens in the browser (``static/js/seal-page.js`` with ``sealing.js``,
``upload.js`` and the key store): the summary and the files are encrypted
there, and only the sealed file reaches the JSON API of ``bidding.views_api``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import User
from bidding import selectors

LOCAL_HOSTS = frozenset({"localhost"})

# Texts the page's script shows, translated here so the page follows the
# interface language. Keys with a dot are error codes of sealing.js / upload.js
# (the server's own refusals arrive already translated in the API's error body)
# or of the key store (keystore.js: passed on with setMessages()).
SEAL_PAGE_TEXTS: dict[str, Any] = {
    "keystore.insecure_context": _(
        "当前页面不是安全连接，浏览器不提供密钥生成和加密功能。请通过 https:// 地址访问本平台"
        "（本机开发时可使用 http://localhost）。"
    ),
    "keystore.unavailable": _(
        "本浏览器不支持本地密钥存储（IndexedDB），请换用最新版 Chrome、Edge 或 Firefox。"
    ),
    "seal.price_invalid": _("投标报价应为大于0的金额（元），最多两位小数，例如 1234567.89。"),
    "seal.duration_invalid": _("工期应为1至3650之间的整数（日历天）。"),
    "seal.quality_invalid": _("请填写质量承诺（不超过200个字符）。"),
    "seal.fields_invalid": _("该项内容无效（不超过500个字符）。"),
    "seal.files_count": _("请选择1至%(max)s个投标文件。"),
    "seal.file_name_invalid": _("文件名“%(name)s”无效：不能包含 / 或 \\，且不超过255个字符。"),
    "seal.manifest_too_large": _("投标报价和文件清单过长，请减少文件数量或缩短文件名。"),
    "seal.header_too_large": _("投标文件头过长。"),
    "seal.fingerprint_mismatch": _("公钥指纹不一致，请刷新页面后重试。"),
    "seal.recipient_key_invalid": _("平台提供的公钥不是3072位 RSA 密钥，已停止加密。请联系平台。"),
    "seal.files_changed": _(
        "所选文件与开始递交时的文件不一致（文件名、大小或修改时间不同），无法继续。请选择原来的文件，或放弃此次递交后重新递交。"
    ),
    "seal.summary_changed": _(
        "填写的投标报价、工期、质量承诺或其他投标内容与开始递交时加密的不一致，无法继续此次递交。"
        "请按原样填写后重试；如需修改，请放弃此次递交，重新加密递交。"
    ),
    "seal.state_invalid": _("本浏览器保存的续传信息已损坏，无法继续此次递交。请放弃后重新递交。"),
    "seal.file_unreadable": _("无法读取所选文件，文件可能已被移动或修改。请重新选择文件。"),
    "seal.size_mismatch": _("加密后的文件大小与预计不符，已停止上传。"),
    "seal.too_large": _("投标文件过大：加密后不得超过 %(max)s。"),
    "seal.key_not_registered": _("本浏览器中的密钥不是本单位当前登记的密钥。"),
    "upload.network": _(
        "网络连接中断，多次重试未成功。请检查网络后点击“继续上传”，已上传的部分不会重新上传。"
    ),
    "upload.resume_mismatch": _(
        "重新加密的第%(index)s片与平台已接收的内容不一致，无法继续此次递交。请放弃后重新递交。"
    ),
    "upload.gone": _("此次递交在平台上已结束，不能继续，请重新递交。"),
    "upload.incomplete": _("平台尚未确认接收完成，请稍后点击“继续上传”。"),
    "failed": _("操作失败：%(message)s"),
    "paused": _("已暂停。点击“继续上传”可从中断处继续，已上传的部分不会重新上传。"),
    "required": _("此项为必填项。"),
    "choose_files": _("请选择投标文件。"),
    "choose_same_files": _("请重新选择原来的投标文件。"),
    "files_help": _("可选择多个文件，合计不超过 %(max)s。文件在本机加密后上传。"),
    "held": _("本浏览器持有该密钥的私钥"),
    "not_held": _("本浏览器未持有本单位当前私钥"),
    "no_registered_key": _("本单位尚未登记投标密钥。请先在本单位密钥页面生成并登记密钥。"),
    "key_not_held": _(
        "本浏览器中没有本单位当前登记的私钥。请在本单位密钥页面从备份文件恢复密钥后再递交。"
    ),
    "seal.no_opening_key": _("本标段尚未生成开标公钥，暂不能递交投标文件。请联系招标代理机构。"),
    "not_accepting": _("本标段当前不接收投标文件。"),
    "deadline_passed": _("投标已截止"),
    "countdown": _("距投标截止 %(time)s"),
    "duration_days": _("%(days)s天%(hours)s小时%(minutes)s分"),
    "duration_hours": _("%(hours)s小时%(minutes)s分%(seconds)s秒"),
    "duration_minutes": _("%(minutes)s分%(seconds)s秒"),
    "duration_seconds": _("%(seconds)s秒"),
    "speed": _("速度 %(speed)s/秒"),
    "time_left": _("剩余约 %(time)s"),
    "retrying": _("连接中断，%(seconds)s秒后第%(attempt)s次重试…"),
    "phase_sealing": _("正在本机加密投标文件…"),
    "phase_uploading": _("正在加密并上传…"),
    "phase_finishing": _("平台正在校验投标文件…"),
    "phase_done": _("已完成。"),
    "confirm_submit": _("确认加密并递交投标文件？截止前可以重新递交（替换）或撤回。"),
    "confirm_abandon": _("确认放弃此次未完成的递交？已上传的部分将被删除。"),
    "resume_intro": _(
        "您于 %(created)s 开始的递交尚未完成（平台已接收 %(received)s / %(total)s）。"
        "为保密，本浏览器未保存投标报价等内容：请在下方按原样重新填写投标内容，并重新选择原来的文件后继续。"
    ),
    # Between file names in a list.
    "list_separator": _("、"),
    "hash_matches": _("与本机计算的 SHA-256 一致"),
    "hash_differs": _("与本机计算的 SHA-256 不一致，请联系平台！"),
}


def _insecure_origin(request: HttpRequest) -> bool:
    """Whether browsers will refuse WebCrypto here: plain http on a host other than localhost.

    The page's script checks ``window.isSecureContext`` as well; saying it in
    the HTML too means the explanation shows even before the script runs.
    """
    if request.is_secure():
        return False
    domain, _port = split_domain_port(request.get_host())
    domain = domain.lower().strip("[]")
    if domain in LOCAL_HOSTS or domain.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(domain).is_loopback
    except ValueError:
        return True


@login_required
@never_cache
@require_http_methods(["GET", "HEAD"])
def seal_page(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The seal-and-submit page of a lot for a bidder whose organisation obtained the documents.

    The selector refuses everyone else (404, as for a lot that does not exist)
    and a lot that no longer accepts bids.
    """
    user = cast(User, request.user)
    lot = selectors.lot_for_bidding(user=user, lot_id=lot_id)
    seal_config = {
        "lot": lot.pk,
        "api_lot": reverse("bidding_api:lot", args=[lot.pk]),
        "user": user.username,
        "organisation": user.organisation.credit_code,
        # The JSON API takes the CSRF token in X-CSRFToken.
        "csrf_token": get_token(request),
        "server_now": timezone.now().isoformat(),
        "bid_deadline": lot.bid_deadline.isoformat(),
        "texts": SEAL_PAGE_TEXTS,
    }
    return render(
        request,
        "bidding/seal.html",
        {
            "lot": lot,
            "seal_config": seal_config,
            "insecure_origin": _insecure_origin(request),
            "lot_page_url": reverse("bidding:lot", args=[lot.pk]),
        },
    )
