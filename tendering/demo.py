"""Demo data for ``manage.py seed_demo``: a small trading centre with tenders in every state.

Everything is built through the services (``accounts.services``,
``tendering.services``, ``bidding.services``, ``opening.room_services``), so
the audit chain records all of it and verifies. Tenders that are shown in a
past state (bidding closed, failed, awarded) get there honestly: they are
published with deadlines a few seconds ahead, the demo bidders seal and
upload real bids before those deadlines, the seeder waits for the server clock
to pass them, and the same sweep the task worker runs (``lots_advance_due``)
closes bidding and opens each room. A lot with too few bids fails there by
itself (TR 44); the others go through their whole ceremony — sign-in,
decryption by each bidder with its own key, the price reading, confirmations
signed with the bidders' signing keys, the signed opening record — before
evaluation and award.

One more tender, published last, opens a few minutes after seeding
(``ceremony_minutes``) with three sealed bids: a new user signs in as its host,
a bidder or the supervisor and takes part in a live ceremony (docs/demo.md).

Seeding is idempotent: the trading centre's unified social credit code marks
a database that already holds the demo, and a second run creates nothing.

Every organisation that keeps opening-key shares (agencies, tenderers, the
supervising authority) or seals bids (the bidders) registers a key set, made
here as a browser would make it; the private keys are written, once the
seeding has committed, to key backup files under ``var/demo-keys/`` encrypted
with ``DEMO_KEY_PASSPHRASE``, so that a demo user can restore them on the key
page and decrypt a bid or hand in a custodian share. Backups already in that
directory are reused rather than replaced, so a browser that restored them
keeps working after the database is seeded again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.credit_code import make as make_credit_code
from accounts.models import (
    Organisation,
    OrganisationKey,
    OrganisationKeyStatus,
    OrganisationKind,
    Role,
    User,
)
from accounts.services import organisation_create, organisation_key_register, user_create
from bidding import services as bidding
from bidding.models import Bid, BidStatus
from bidding.sealing import format as sealing_format
from bidding.sealing import keys as sealing_keys
from bidding.sealing.errors import SealingError
from bidding.sealing.manifest import FileEntry
from bidding.security import security_demo
from complaints.demo import complaints_demo
from core.errors import DomainError
from core.pdf import register_cjk_font
from experts import pool as expert_pool
from experts.id_number import make as make_id_number
from experts.pool import ExpertInput
from opening import crypto as opening_crypto
from opening import room_services
from opening.models import Room, RoomStage
from opening.selectors import opening_public_key
from tendering import services as tendering
from tendering.models import Category, EvaluationMethod, Lot, LotStatus, Tender

DEMO_PASSWORD = "Sunbid@2026"
# The passphrase of the demo organisations' key backups (var/demo-keys/, docs/opening-keys.md).
DEMO_KEY_PASSPHRASE = "Sunbid-demo-keys-2026"
# The roles whose organisations hold keys in the demo: the custodians of opening keys, and the bidders.
KEY_HOLDER_ROLES = (Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR, Role.BIDDER)
# The trading centre's code marks a database that already holds the demo.
MARKER_CREDIT_CODE = make_credit_code("12330100470251001")
DEFAULT_EXPERTS = 240
# Experts who can sign in with the demo password. The rest of the pool has no
# password (as in production, where experts answer a draw through signed
# links): hashing ~0.4 s per account would make seeding take minutes.
DEMO_EXPERT_LOGINS = 3
# Seconds between publishing the past-state tenders and their deadlines: long enough for
# the demo bidders to seal and upload their bids on a slow machine, and spent building the
# expert pool meanwhile, so it rarely lengthens seeding.
DEFAULT_CLOSING_DELAY = 10.0
MIN_CLOSING_DELAY = 0.5
# The live ceremony lot opens this many minutes after seeding (rounded up to the minute).
DEFAULT_CEREMONY_MINUTES = 5
MIN_CEREMONY_MINUTES = 1
# RSA-3072 keys are made this many at a time, beside the seeding (OpenSSL releases the GIL).
_KEY_THREADS = max(1, min(4, os.cpu_count() or 1))
_NAME_SEED = 2026
_EMAIL_DOMAIN = "demo.example.com"

Log = Callable[[str], None]


# --- organisations and people ------------------------------------------------------


@dataclass(frozen=True)
class OrgSpec:
    key: str
    name: str
    kind: str
    code17: str
    region: str
    address: str
    contact_name: str
    contact_phone: str


@dataclass(frozen=True)
class UserSpec:
    username: str
    org: str
    role: str
    full_name: str
    mobile: str


ORGANISATIONS: tuple[OrgSpec, ...] = (
    OrgSpec("platform", "长三角公共资源交易中心", OrganisationKind.PLATFORM, "12330100470251001",
            "330000", "浙江省杭州市上城区解放东路18号", "陈建国", "0571-87001000"),
    OrgSpec("supervisor", "长三角公共资源交易监督管理办公室", OrganisationKind.SUPERVISOR, "11330100002486012",
            "330000", "浙江省杭州市上城区解放东路18号B座", "周振华", "0571-87002000"),
    OrgSpec("hospital", "杭州市第一人民医院", OrganisationKind.TENDERER, "12330100470116743",
            "330000", "浙江省杭州市上城区浣纱路261号", "王立新", "0571-56005600"),
    OrgSpec("school", "苏州市第一中学", OrganisationKind.TENDERER, "12320500466990325",
            "320000", "江苏省苏州市姑苏区人民路699号", "张敏", "0512-65224331"),
    OrgSpec("water", "合肥供水集团有限公司", OrganisationKind.TENDERER, "91340100149043276",
            "340000", "安徽省合肥市蜀山区长江西路70号", "刘洪涛", "0551-62611234"),
    OrgSpec("agency1", "浙江明诚招标代理有限公司", OrganisationKind.AGENCY, "91330100MA27X1K30",
            "330000", "浙江省杭州市西湖区文三路90号", "李娜", "0571-88216601"),
    OrgSpec("agency2", "江苏正信工程咨询有限公司", OrganisationKind.AGENCY, "91320500MA1MEG9D2",
            "320000", "江苏省苏州市工业园区星海街200号", "赵磊", "0512-62538802"),
    OrgSpec("agency3", "安徽中衡项目管理有限公司", OrganisationKind.AGENCY, "91340100MA2NB4JQ1",
            "340000", "安徽省合肥市政务区潜山路100号", "孙伟", "0551-63578803"),
    OrgSpec("bidder1", "浙江东信建设集团有限公司", OrganisationKind.BIDDER, "91330100143051872",
            "330000", "浙江省杭州市拱墅区湖墅南路88号", "吴建华", "0571-85120001"),
    OrgSpec("bidder2", "江苏苏诚建设工程有限公司", OrganisationKind.BIDDER, "91320500138263495",
            "320000", "江苏省苏州市吴中区东吴北路55号", "郑凯", "0512-66530002"),
    OrgSpec("bidder3", "安徽华安市政工程有限公司", OrganisationKind.BIDDER, "91340100148975863",
            "340000", "安徽省合肥市包河区马鞍山路368号", "冯涛", "0551-64290003"),
    OrgSpec("bidder4", "浙江恒达医疗器械有限公司", OrganisationKind.BIDDER, "91330100MA28L7UE4",
            "330000", "浙江省杭州市滨江区江南大道3880号", "何静", "0571-86650004"),
    OrgSpec("bidder5", "杭州博远信息技术有限公司", OrganisationKind.BIDDER, "91330100MA2H0TQC6",
            "330000", "浙江省杭州市余杭区文一西路998号", "许文博", "0571-88730005"),
    OrgSpec("bidder6", "浙江清源环境科技有限公司", OrganisationKind.BIDDER, "91330100MA2CD5PY3",
            "330000", "浙江省杭州市萧山区市心北路1088号", "韩雪", "0571-82810006"),
    OrgSpec("bidder7", "南京金陵家具制造有限公司", OrganisationKind.BIDDER, "91320100134890217",
            "320000", "江苏省南京市江宁区将军大道518号", "曹阳", "025-52160007"),
    OrgSpec("bidder8", "合肥安居物业服务有限公司", OrganisationKind.BIDDER, "91340100MA2RW6H87",
            "340000", "安徽省合肥市庐阳区长江中路19号", "彭丽", "0551-62670008"),
)

PEOPLE: tuple[UserSpec, ...] = (
    UserSpec("admin", "platform", Role.PLATFORM_ADMIN, "陈建国", "13805710001"),
    UserSpec("finance", "platform", Role.FINANCE, "林晓燕", "13805710002"),
    UserSpec("supervisor", "supervisor", Role.SUPERVISOR, "周振华", "13805710003"),
    UserSpec("tenderer1", "hospital", Role.TENDERER_REP, "王立新", "13905710011"),
    UserSpec("tenderer2", "school", Role.TENDERER_REP, "张敏", "13905120012"),
    UserSpec("tenderer3", "water", Role.TENDERER_REP, "刘洪涛", "13905510013"),
    UserSpec("agent1", "agency1", Role.AGENT, "李娜", "13705710021"),
    UserSpec("agent2", "agency2", Role.AGENT, "赵磊", "13705120022"),
    UserSpec("agent3", "agency3", Role.AGENT, "孙伟", "13705510023"),
    UserSpec("bidder1", "bidder1", Role.BIDDER, "吴建华", "13605710031"),
    UserSpec("bidder2", "bidder2", Role.BIDDER, "郑凯", "13605120032"),
    UserSpec("bidder3", "bidder3", Role.BIDDER, "冯涛", "13605510033"),
    UserSpec("bidder4", "bidder4", Role.BIDDER, "何静", "13605710034"),
    UserSpec("bidder5", "bidder5", Role.BIDDER, "许文博", "13605710035"),
    UserSpec("bidder6", "bidder6", Role.BIDDER, "韩雪", "13605710036"),
    UserSpec("bidder7", "bidder7", Role.BIDDER, "曹阳", "13605250037"),
    UserSpec("bidder8", "bidder8", Role.BIDDER, "彭丽", "13605510038"),
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁"
    "任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万钱戴严"
)
_COMPOUND_SURNAMES = ("欧阳", "上官", "司马", "诸葛")
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文斌辉鹏宇浩凯健俊峰琳晨晓红玲志海波宁东飞雪"
    "慧颖婷思嘉博睿欣怡雅诚振立新成康永泽天阳昊佳梦瑶雯倩丹萍莉亮春燕兰荣清源远航毅锋坤卫彬松柏云"
)


def expert_people(count: int) -> list[UserSpec]:
    """``count`` experts with plausible, unique Chinese names, the same on every run."""
    rng = random.Random(_NAME_SEED)
    taken = {spec.full_name for spec in PEOPLE}
    experts: list[UserSpec] = []
    while len(experts) < count:
        surname = rng.choice(_COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(_SURNAMES)
        given = "".join(rng.choice(_GIVEN) for _ in range(1 if rng.random() < 0.3 else 2))
        name = surname + given
        if name in taken:
            continue
        taken.add(name)
        number = len(experts) + 1
        mobile = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        experts.append(UserSpec(f"expert{number:03d}", "platform", Role.EXPERT, name, mobile))
    return experts


# --- the expert pool -------------------------------------------------------------------


@dataclass(frozen=True)
class Discipline:
    """A field of expertise: the leaf specialties its experts hold and where such experts work.

    ``parties`` are demo organisations (keys of ``ORGANISATIONS``) that employ
    some of them, so that avoidance has something to exclude.
    """

    leaves: tuple[str, ...]
    employers: tuple[tuple[str, str], ...]  # (name, first 17 characters of the credit code)
    parties: tuple[str, ...] = ()
    weight: int = 1


DISCIPLINES: tuple[Discipline, ...] = (
    Discipline(
        ("A0101", "A0102", "A0103", "A0107"),
        (("浙江省建筑设计研究院有限公司", "91330000470001234"), ("江苏省建筑科学研究院有限公司", "91320000134751208"),
         ("安徽省建筑设计研究总院股份有限公司", "91340000148941507"), ("浙江大学", "12330000470008018"),
         ("东南大学", "12320000466006219"), ("合肥工业大学", "12340000485000831")),
        parties=("bidder1", "bidder2"), weight=5,
    ),
    Discipline(
        ("A0104", "A0105", "A0106", "A0501", "A0502", "A0503"),
        (("华东建筑设计研究院有限公司", "91310000132205931"), ("浙江省建筑设计研究院有限公司", "91330000470001234"),
         ("江苏省建筑设计研究院股份有限公司", "91320000134761045"), ("国网安徽省电力有限公司经济技术研究院", "91340000MA2MT2K61")),
        parties=("bidder1",), weight=3,
    ),
    Discipline(
        ("A0201", "A0202", "A0203", "A0204", "A0205", "A0206"),
        (("上海市政工程设计研究总院（集团）有限公司", "91310000132200425"), ("南京市市政设计研究院有限责任公司", "91320100134700518"),
         ("合肥市市政设计研究总院有限公司", "91340100149030623"), ("杭州市城市建设发展集团有限公司", "91330100143087412")),
        parties=("bidder3",), weight=4,
    ),
    Discipline(
        ("A0301", "A0302", "A0303", "A0304", "A0401", "A0402"),
        (("河海大学", "12320000466007312"), ("浙江省水利水电勘测设计院有限责任公司", "91330000470021466"),
         ("安徽省水利水电勘测设计研究总院股份有限公司", "91340000148960527")),
        weight=2,
    ),
    Discipline(
        ("A0601", "A0602", "A0603", "C0104", "C0701", "C0702", "C0703"),
        (("浙江省建设工程造价管理总站", "12330000470013582"), ("苏州市建设工程造价管理站", "12320500466100728"),
         ("天健会计师事务所（特殊普通合伙）", "91330000087374063"), ("安徽中兴华工程造价咨询有限公司", "91340100MA2N0G7B4")),
        weight=5,
    ),
    Discipline(
        ("B0101", "B0102", "B0103", "B0104", "B0105"),
        (("浙江大学医学院附属第二医院", "12330000470003567"), ("江苏省人民医院", "12320000466002734"),
         ("安徽医科大学第一附属医院", "12340000485003107"), ("温州医科大学附属第一医院", "12330300470510946")),
        parties=("hospital", "bidder4"), weight=4,
    ),
    Discipline(
        ("B0201", "B0202", "B0203", "B0204", "B0205", "C0301", "C0302", "C0303"),
        (("浙江工业大学", "12330000470008729"), ("南京邮电大学", "12320000466008152"),
         ("中国科学技术大学", "12100000485001546"), ("浙江省信息化发展中心", "12330000470024125")),
        parties=("bidder5",), weight=4,
    ),
    Discipline(
        ("B0601", "B0602", "C0501", "C0502", "C0503"),
        (("浙江省生态环境科学设计研究院", "12330000470014233"), ("江苏省环境科学研究院", "12320000466011407"),
         ("合肥市排水管理办公室", "12340100485202611")),
        parties=("bidder6", "water"), weight=2,
    ),
    Discipline(
        ("B0401", "B0402", "B0403", "B0301", "B0302", "B0303", "B0304"),
        (("苏州大学", "12320000466008547"), ("浙江省教育技术中心", "12330000470021855"),
         ("江苏省产品质量监督检验研究院", "12320000466003518")),
        parties=("school", "bidder7"), weight=2,
    ),
    Discipline(
        ("C0201", "C0202", "C0203", "C0601", "C0602", "C0101", "C0102", "C0103", "C0105"),
        (("浙江省物业管理协会", "51330000501751523"), ("江苏省建设监理与招投标协会", "51320000509143206"),
         ("中国联合工程有限公司", "91330000100022428"), ("安徽省建设监理有限公司", "91340000148946138")),
        parties=("bidder8",), weight=2,
    ),
)

# County-level address codes (GB/T 2260) by the experts' provinces, for their identity numbers.
_AREA_CODES = {
    "330000": ("330102", "330105", "330106", "330108", "330110", "330203", "330302", "330402"),
    "320000": ("320102", "320104", "320106", "320205", "320506", "320508"),
    "340000": ("340102", "340103", "340104", "340111", "340202"),
    "310000": ("310101", "310104", "310115"),
}
_REGION_WEIGHTS = (("330000", 45), ("320000", 30), ("340000", 20), ("310000", 5))
_TITLE_WEIGHTS = (("senior_full", 20), ("senior", 55), ("intermediate", 25))
_POOL_SEED = 4642  # the pool is the same on every run


_ABSENCES = ("出差", "出国学术交流", "单位年度检查", "参加培训", "休假", "手术排班")
_STATUS_CHANGES = (
    ("suspended", "年度考核中两次无故缺席评标，暂停抽取一年"),
    ("suspended", "本人申请暂停（外派援疆）"),
    ("retired", "已届七十周岁，按规定退出专家库"),
)


@dataclass(frozen=True)
class ExpertProfile:
    """One demo expert's pool record, as the services take it, plus what to declare afterwards."""

    username: str
    data: ExpertInput
    conflicts: tuple[tuple[str, str], ...] = ()  # (organisation key, conflict kind)
    unavailable: tuple[tuple[int, int, str], ...] = ()  # (days from today, length in days, note)
    status: tuple[str, str] | None = None  # (status, reason)


def _identity_number(rng: random.Random, region: str, taken: set[str]) -> str:
    while True:
        born = dt.date(1962, 1, 1) + dt.timedelta(days=rng.randrange(28 * 365))
        number = make_id_number(f"{rng.choice(_AREA_CODES[region])}{born:%Y%m%d}{rng.randrange(1, 1000):03d}")
        if number not in taken:
            taken.add(number)
            return number


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _weight in choices], weights=[weight for _value, weight in choices])[0]


def expert_profiles(people: list[UserSpec]) -> list[ExpertProfile]:
    """A pool record for each demo expert: plausible, varied, and the same on every run.

    About one expert in twelve works for a demo bidder or tenderer, one in
    fifteen has declared a conflict with a demo bidder, one in twenty has
    unavailable days ahead, and a handful are suspended or retired. The
    first demo expert (who can sign in) has a conflict and unavailable days,
    so that "我的专家信息" shows every part.
    """
    rng = random.Random(_POOL_SEED)
    taken: set[str] = set()
    organisations = {spec.key: spec for spec in ORGANISATIONS}
    bidders = [spec.key for spec in ORGANISATIONS if spec.kind == OrganisationKind.BIDDER]
    profiles = []
    for index, person in enumerate(people):
        discipline = rng.choices(DISCIPLINES, weights=[d.weight for d in DISCIPLINES])[0]
        region = _weighted(rng, _REGION_WEIGHTS)
        leaves = rng.sample(discipline.leaves, k=min(len(discipline.leaves), rng.choice((2, 2, 3, 3, 4))))
        if discipline.parties and rng.random() < 0.12:
            party = organisations[rng.choice(discipline.parties)]
            employer, code17, region = party.name, party.code17, party.region
        elif rng.random() < 0.05:
            employer, code17 = "", ""  # retired from service, no employer on record
        else:
            employer, code17 = rng.choice(discipline.employers)
        conflicts: tuple[tuple[str, str], ...] = ()
        if index == 0 or rng.random() < 0.07:
            conflicts = ((rng.choice(bidders), rng.choice(("relative", "interest"))),)
        unavailable: tuple[tuple[int, int, str], ...] = ()
        if index == 0 or rng.random() < 0.05:
            unavailable = ((rng.randrange(3, 40), rng.randrange(1, 8), rng.choice(_ABSENCES)),)
        status = None
        if index >= DEMO_EXPERT_LOGINS and rng.random() < 0.03:
            status = rng.choice(_STATUS_CHANGES)
        profiles.append(
            ExpertProfile(
                username=person.username,
                data=ExpertInput(
                    code=f"ZJ{index + 1:06d}", name=person.full_name, id_number=_identity_number(rng, region, taken),
                    mobile=person.mobile, email=f"{person.username}@{_EMAIL_DOMAIN}", employer_name=employer,
                    employer_credit_code=make_credit_code(code17) if code17 else "",
                    title=_weighted(rng, _TITLE_WEIGHTS), region=region, specialty_codes=tuple(sorted(leaves)),
                ),
                conflicts=conflicts,
                unavailable=unavailable,
                status=status,
            )
        )
    return profiles


# --- tenders --------------------------------------------------------------------------


@dataclass(frozen=True)
class BidSpec:
    """A demo bidder's sealed bid: who seals it, and the summary the opening reads out."""

    bidder: str  # the username of the bidder user who seals and uploads it
    price: str
    duration_days: int
    quality: str = "合格"
    fields: tuple[tuple[str, str], ...] = ()  # (key of the lot's bid field, value)

    def summary(self) -> dict[str, Any]:
        return {
            "price": self.price,
            "duration_days": self.duration_days,
            "quality": self.quality,
            "fields": dict(self.fields),
        }


@dataclass(frozen=True)
class Objection:
    """An objection raised in a past lot's room by a bidder, and the host's answer (TR 44, EB 39)."""

    bidder: str
    text: str
    answer: str


@dataclass(frozen=True)
class LotSpec:
    name: str
    estimated: str
    control: str
    security: str
    method: str = EvaluationMethod.COMPREHENSIVE
    award: str | None = None
    winner: str | None = None
    # Extra items of the sealed bid summary: (key, label, required).
    bid_fields: tuple[tuple[str, str, bool], ...] = ()
    # The sealed bids of a lot published with deadlines seconds ahead (the past-state
    # tenders) or of the live ceremony lot; the open tenders have none yet.
    bids: tuple[BidSpec, ...] = ()
    objection: Objection | None = None
    decryption_minutes: int = 30

    @property
    def estimated_price(self) -> Decimal:
        return Decimal(self.estimated)


@dataclass(frozen=True)
class TenderSpec:
    key: str
    agent: str
    tenderer: str
    title: str
    project_name: str
    category: str
    scope: str
    qualification: str
    funds: str
    approver: str
    lots: tuple[LotSpec, ...]
    obtainers: tuple[str, ...] = ()
    deadline_days: int = 0


_BUILDING = "具备建设行政主管部门核发的建筑工程施工总承包二级及以上资质，并具有有效的安全生产许可证；拟派项目经理具备建筑工程专业二级及以上注册建造师执业资格。"
_MUNICIPAL = "具备市政公用工程施工总承包二级及以上资质，并具有有效的安全生产许可证；拟派项目经理具备市政公用工程专业二级及以上注册建造师执业资格。"
_SUPPLIER = "具有独立承担民事责任的能力，具有良好的商业信誉和健全的财务会计制度；参加采购活动前三年内，在经营活动中没有重大违法记录。"
_MEDICAL = _SUPPLIER + "所投产品须取得有效的医疗器械注册证，投标人须具有医疗器械经营许可证或备案凭证。"

TENDERS: tuple[TenderSpec, ...] = (
    TenderSpec(
        "draft", "agent1", "hospital",
        "杭州市第一人民医院医用直线加速器采购项目招标公告", "杭州市第一人民医院医用直线加速器采购项目",
        Category.MEDICAL,
        "采购医用直线加速器1台，含安装调试、场地改造配合、操作培训及五年整机保修。",
        _MEDICAL, "自筹资金", "杭州市卫生健康委员会",
        (LotSpec("医用直线加速器（含安装调试及培训）", "32000000.00", "31500000.00", "300000.00",
                 EvaluationMethod.COMPREHENSIVE),),
    ),
    TenderSpec(
        "outpatient", "agent1", "hospital",
        "杭州市第一人民医院门诊综合楼改造工程施工招标公告", "杭州市第一人民医院门诊综合楼改造工程",
        Category.CONSTRUCTION,
        "门诊综合楼（地上12层、地下2层，建筑面积约3.6万平方米）内部功能改造、装饰装修、给排水、电气、"
        "暖通及智能化工程，计划工期420日历天。",
        _BUILDING, "财政资金", "杭州市发展和改革委员会",
        (LotSpec("门诊综合楼改造工程施工总承包", "38600000.00", "37950000.00", "760000.00",
                 bid_fields=(("project_manager", "拟派项目经理", True), ("warranty_years", "质量保修期（年）", True))),),
        obtainers=("bidder1", "bidder2", "bidder3"), deadline_days=21,
    ),
    TenderSpec(
        "campus", "agent2", "school",
        "苏州市第一中学智慧校园信息化建设项目招标公告", "苏州市第一中学智慧校园信息化建设项目",
        Category.GOVERNMENT,
        "校园有线及无线网络、视频安防监控、一卡通系统升级改造，以及48间多媒体教室和2间录播教室的设备供货与安装。",
        _SUPPLIER, "财政资金", "苏州市教育局",
        (
            LotSpec("标段一：校园网络与安防监控系统", "4850000.00", "4780000.00", "90000.00",
                    EvaluationMethod.COMPREHENSIVE,
                    bid_fields=(("warranty_years", "免费质保期（年）", True), ("local_service", "本地化服务承诺", False))),
            LotSpec("标段二：多媒体教室及录播设备", "2360000.00", "2310000.00", "45000.00",
                    EvaluationMethod.LOWEST_PRICE),
        ),
        obtainers=("bidder5", "bidder2"), deadline_days=26,
    ),
    TenderSpec(
        "pipes", "agent3", "water",
        "合肥供水集团老旧供水管网改造工程（2026年度）施工招标公告", "合肥供水集团老旧供水管网改造工程（2026年度）",
        Category.CONSTRUCTION,
        "对城区服役超过30年的灰口铸铁及镀锌供水管道进行更新改造，总长度约46公里，管径DN100～DN600，"
        "含路面破除恢复及用户接水，分三个标段招标。",
        _MUNICIPAL, "企业自筹资金", "合肥市城乡建设局",
        (
            LotSpec("一标段：蜀山区管网改造", "12800000.00", "12560000.00", "250000.00"),
            LotSpec("二标段：庐阳区管网改造", "9650000.00", "9480000.00", "190000.00"),
            LotSpec("三标段：包河区管网改造", "11200000.00", "10990000.00", "220000.00"),
        ),
        obtainers=("bidder1", "bidder3", "bidder6"), deadline_days=30,
    ),
    TenderSpec(
        "consumables", "agent1", "hospital",
        "杭州市第一人民医院2026年度骨科类医用耗材集中采购项目招标公告", "杭州市第一人民医院2026年度骨科类医用耗材集中采购项目",
        Category.MEDICAL,
        "采购2026年度骨科类医用耗材（创伤类、脊柱类、关节类），按实际用量结算，供货期一年。",
        _MEDICAL, "自筹资金", "杭州市卫生健康委员会",
        (LotSpec("骨科类医用耗材", "6800000.00", "6650000.00", "130000.00", EvaluationMethod.LOWEST_PRICE),),
        obtainers=("bidder4",), deadline_days=34,
    ),
    TenderSpec(
        "sludge", "agent3", "water",
        "合肥供水集团水厂污泥处置服务项目招标公告", "合肥供水集团水厂污泥处置服务项目",
        Category.OTHER,
        "集团下属四座水厂脱水污泥的收集、运输及无害化处置服务，预计年处置量约2.4万吨，服务期两年。",
        _SUPPLIER + "须具备污泥处置相关的环保资质。", "企业自筹资金", "合肥供水集团有限公司董事会",
        (LotSpec("水厂污泥处置服务", "3600000.00", "3520000.00", "70000.00"),),
        obtainers=("bidder6", "bidder3"), deadline_days=38,
    ),
    TenderSpec(
        "gym", "agent2", "school",
        "苏州市第一中学体育馆新建工程施工招标公告", "苏州市第一中学体育馆新建工程",
        Category.CONSTRUCTION,
        "新建体育馆一座，地上2层，建筑面积约6800平方米，含室内篮球馆、游泳池及配套用房的土建、安装和室外工程。",
        _BUILDING, "财政资金", "苏州市发展和改革委员会",
        (LotSpec("体育馆新建工程施工总承包", "26500000.00", "26080000.00", "520000.00"),),
        obtainers=("bidder1", "bidder2", "bidder3"), deadline_days=24,
    ),
    TenderSpec(
        "dormitory", "agent2", "school",
        "苏州市第一中学学生宿舍家具采购项目招标公告", "苏州市第一中学学生宿舍家具采购项目",
        Category.GOVERNMENT,
        "采购学生宿舍上床下桌组合床720套、储物柜720组及配套桌椅，含运输、安装及三年质保。",
        _SUPPLIER, "财政资金", "苏州市教育局",
        (LotSpec("学生宿舍家具", "1280000.00", "1250000.00", "25000.00", EvaluationMethod.LOWEST_PRICE,
                 bids=(BidSpec("bidder7", "1186400.00", 60), BidSpec("bidder5", "1219000.00", 75),
                       BidSpec("bidder2", "1232800.00", 70))),),
        obtainers=("bidder7", "bidder5", "bidder2"),
    ),
    TenderSpec(
        "property", "agent3", "water",
        "合肥供水集团办公楼物业管理服务采购项目招标公告", "合肥供水集团办公楼物业管理服务采购项目",
        Category.GOVERNMENT,
        "集团总部办公楼（建筑面积约2.1万平方米）的保洁、秩序维护、设施设备运行维护及会务服务，服务期三年。",
        _SUPPLIER + "须具有有效的物业服务企业相关管理体系认证。", "企业自筹资金", "合肥供水集团有限公司董事会",
        # Two bids for a minimum of three: the lot fails at its opening (TR 44).
        (LotSpec("办公楼物业管理服务", "1960000.00", "1920000.00", "39000.00",
                 bids=(BidSpec("bidder8", "1868000.00", 1095), BidSpec("bidder3", "1897500.00", 1095))),),
        obtainers=("bidder8", "bidder3"),
    ),
    TenderSpec(
        "ultrasound", "agent1", "hospital",
        "杭州市第一人民医院彩色多普勒超声诊断仪采购项目招标公告", "杭州市第一人民医院彩色多普勒超声诊断仪采购项目",
        Category.MEDICAL,
        "采购高端彩色多普勒超声诊断仪2台（含心脏、腹部、浅表及血管探头），含安装调试、培训及三年保修。",
        _MEDICAL, "财政资金", "杭州市卫生健康委员会",
        (LotSpec("彩色多普勒超声诊断仪", "2900000.00", "2860000.00", "58000.00", EvaluationMethod.COMPREHENSIVE,
                 award="2712800.00", winner="bidder4",
                 bids=(BidSpec("bidder4", "2712800.00", 45), BidSpec("bidder5", "2785000.00", 60),
                       BidSpec("bidder1", "2836600.00", 50)),
                 objection=Objection(
                     "bidder1",
                     "唱标中浙江恒达医疗器械有限公司的供货期为45日历天，请主持人核实该供货期是否满足招标文件对进口设备报关时间的要求。",
                     "开标环节仅公布投标文件载明的内容，不对其实质性响应作出判断；供货期是否满足招标文件要求由评标委员会评审认定。"
                     "贵单位的异议已记入开标记录。",
                 )),),
        obtainers=("bidder4", "bidder5", "bidder1"),
    ),
    TenderSpec(
        "waterworks", "agent3", "water",
        "合肥供水集团第三水厂深度处理改造工程招标公告", "合肥供水集团第三水厂深度处理改造工程",
        Category.CONSTRUCTION,
        "第三水厂新增臭氧-活性炭深度处理工艺，规模20万立方米/日，含土建施工及臭氧发生器、活性炭滤池设备采购安装。",
        _MUNICIPAL, "企业自筹资金", "合肥市发展和改革委员会",
        (
            LotSpec("一标段：土建施工", "18500000.00", "18200000.00", "360000.00", EvaluationMethod.COMPREHENSIVE,
                    award="17356420.00", winner="bidder1",
                    bids=(BidSpec("bidder1", "17356420.00", 300), BidSpec("bidder3", "17528000.00", 320),
                          BidSpec("bidder2", "17890350.00", 290))),
            LotSpec("二标段：工艺设备采购及安装", "7400000.00", "7300000.00", "140000.00",
                    EvaluationMethod.LOWEST_PRICE, award="6985000.00", winner="bidder6",
                    bids=(BidSpec("bidder6", "6985000.00", 180), BidSpec("bidder3", "7126500.00", 200),
                          BidSpec("bidder2", "7188000.00", 180))),
        ),
        obtainers=("bidder1", "bidder3", "bidder6", "bidder2"),
    ),
    TenderSpec(
        "canteen", "agent2", "school",
        "苏州市第一中学校园食堂食材配送服务采购项目招标公告", "苏州市第一中学校园食堂食材配送服务采购项目",
        Category.GOVERNMENT,
        "校园食堂米面粮油、肉禽蛋、蔬菜水果等食材的配送服务，服务期一年。",
        _SUPPLIER + "须具有有效的食品经营许可证。", "财政资金", "苏州市教育局",
        (LotSpec("食堂食材配送服务", "3200000.00", "3150000.00", "60000.00", EvaluationMethod.LOWEST_PRICE),),
        obtainers=("bidder8", "bidder7"), deadline_days=28,
    ),
)

# The live ceremony: published last, it opens ``ceremony_minutes`` after seeding, with three
# sealed bids (one above the maximum price, flagged at the reading, TR 51(5)).
CEREMONY = TenderSpec(
    "ceremony", "agent1", "hospital",
    "杭州市第一人民医院住院楼屋面防水及外立面修缮工程施工招标公告", "杭州市第一人民医院住院楼屋面防水及外立面修缮工程",
    Category.CONSTRUCTION,
    "住院楼（地上16层）屋面防水层翻新约4200平方米，外立面石材及涂料修缮约1.8万平方米，含脚手架搭拆及建筑垃圾清运，"
    "计划工期150日历天。本项目采用不见面开标，投标截止时间即开标时间。",
    _BUILDING, "财政资金", "杭州市卫生健康委员会",
    (LotSpec("住院楼屋面防水及外立面修缮工程施工", "5860000.00", "5760000.00", "110000.00",
             decryption_minutes=15,
             bid_fields=(("project_manager", "拟派项目经理", True), ("warranty_years", "防水工程质量保修期（年）", True)),
             bids=(
                 BidSpec("bidder1", "5563000.00", 140, fields=(("project_manager", "吴建华"), ("warranty_years", "10"))),
                 BidSpec("bidder2", "5812500.00", 150, fields=(("project_manager", "郑凯"), ("warranty_years", "8"))),
                 BidSpec("bidder3", "5618800.00", 145, fields=(("project_manager", "冯涛"), ("warranty_years", "10"))),
             )),),
    obtainers=("bidder1", "bidder2", "bidder3"),
)
# Who the README and the seed command name for the ceremony.
CEREMONY_SUPERVISOR = "supervisor"
CEREMONY_TENDERER = "tenderer1"

_CLOSING_BATCH = ("dormitory", "property", "ultrasound", "waterworks")
_OPENS_LATER = ("dormitory",)  # stays "bidding closed": its opening is two days away
_CANCEL_REASON = "因采购需求发生重大变化，经招标人研究决定终止本次招标，后续将重新组织招标。"


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    username: str
    role: str
    organisation: str


@dataclass(frozen=True)
class CeremonySeat:
    """Who to sign in as for the live ceremony: a demo login and its part in the room."""

    username: str
    part: str  # the room's participant role: host, supervisor, tenderer, bidder
    organisation: str
    key_file: Path | None = None  # a bidder's key backup, to restore on the key page


@dataclass(frozen=True)
class CeremonyInfo:
    """The live ceremony lot of the demo, as the seed command prints it."""

    lot_id: int
    tender_code: str
    lot_name: str
    opening_time: dt.datetime
    status: str
    status_label: str
    room_path: str
    seats: tuple[CeremonySeat, ...]
    keys_dir: Path

    @property
    def upcoming(self) -> bool:
        """Still ahead: bidding open and the opening time not reached."""
        return self.status == LotStatus.PUBLISHED and timezone.now() < self.opening_time


@dataclass(frozen=True)
class SeedResult:
    created: bool
    logins: tuple[Login, ...]
    expert_count: int
    expert_range: str
    ceremony: CeremonyInfo | None = None


def logins(expert_count: int = DEFAULT_EXPERTS) -> SeedResult:
    """The demo's logins, as documented in the README (the same whether or not seeding ran)."""
    names = {spec.key: spec.name for spec in ORGANISATIONS}
    rows = tuple(Login(spec.username, str(Role(spec.role).label), names[spec.org]) for spec in PEOPLE)
    experts = expert_people(expert_count)
    rows += (Login(experts[0].username, str(Role(Role.EXPERT).label), names["platform"]),)
    return SeedResult(
        created=False,
        logins=rows,
        expert_count=expert_count,
        expert_range=f"{experts[0].username}…{experts[min(DEMO_EXPERT_LOGINS, len(experts)) - 1].username}",
    )


def demo_keys_dir() -> Path:
    """Where the demo organisations' key backups are written."""
    return Path(settings.VAR_DIR) / "demo-keys"


def backup_filename(credit_code: str, encryption_fingerprint: str) -> str:
    """The name of a demo organisation's key backup under ``demo_keys_dir()``."""
    return f"sunbid-keys-{credit_code}-{encryption_fingerprint[:8]}-demo.json"


def is_seeded() -> bool:
    return Organisation.objects.filter(credit_code=MARKER_CREDIT_CODE).exists()


def ceremony_lot() -> Lot | None:
    """The live ceremony's lot in a seeded database (None before seeding)."""
    return (
        Lot.objects.select_related("tender", "tender__agency")
        .filter(tender__title=CEREMONY.title)
        .order_by("-opening_time")
        .first()
    )


def ceremony_info() -> CeremonyInfo | None:
    """The live ceremony lot and who takes part in it, with each bidder's key backup file."""
    lot = ceremony_lot()
    if lot is None:
        return None
    users = {
        user.username: user
        for user in User.objects.select_related("organisation").filter(
            username__in=[CEREMONY.agent, CEREMONY_SUPERVISOR, CEREMONY_TENDERER]
            + [bid.bidder for bid in CEREMONY.lots[0].bids]
        )
    }
    active = {
        key.organisation_id: key
        for key in OrganisationKey.objects.filter(
            organisation__in=[user.organisation_id for user in users.values()], status=OrganisationKeyStatus.ACTIVE
        )
    }

    def seat(username: str, part: str) -> CeremonySeat:
        user = users[username]
        key_file = None
        if part == "bidder" and user.organisation_id in active:
            key = active[user.organisation_id]
            key_file = demo_keys_dir() / backup_filename(user.organisation.credit_code, key.encryption_fingerprint)
        return CeremonySeat(username, part, user.organisation.name, key_file)

    seats = (
        seat(CEREMONY.agent, "host"),
        *(seat(bid.bidder, "bidder") for bid in CEREMONY.lots[0].bids),
        seat(CEREMONY_SUPERVISOR, "supervisor"),
        seat(CEREMONY_TENDERER, "tenderer"),
    )
    return CeremonyInfo(
        lot_id=lot.pk,
        tender_code=lot.tender.code,
        lot_name=lot.name,
        opening_time=lot.opening_time,
        status=lot.status,
        status_label=str(LotStatus(lot.status).label),
        room_path=reverse("opening:room", kwargs={"lot_id": lot.pk}),
        seats=seats,
        keys_dir=demo_keys_dir(),
    )


# --- documents -------------------------------------------------------------------------


def render_pdf(title: str, sections: list[tuple[str, str]], table: list[list[str]] | None = None) -> bytes:
    """A small real PDF with Chinese text in the platform's embedded font (core.pdf)."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = register_cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=17, wordWrap="CJK", firstLineIndent=21)
    heading = ParagraphStyle("heading", parent=body, fontSize=13, leading=22, firstLineIndent=0, spaceBefore=8)
    cover = ParagraphStyle("cover", parent=body, fontSize=18, leading=28, alignment=TA_CENTER, firstLineIndent=0)
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=13, firstLineIndent=0)

    buffer = BytesIO()
    # invariant=1: the same content always gives the same bytes, hence the same SHA-256.
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=title, author="阳光开标 Sunbid 演示数据", invariant=1,
        leftMargin=22 * mm, rightMargin=22 * mm, topMargin=20 * mm, bottomMargin=20 * mm,
    )
    story: list = [Paragraph(escape(title), cover), Spacer(1, 8 * mm)]
    for index, (name, text) in enumerate(sections):
        story.append(Paragraph(escape(name), heading))
        for paragraph in text.split("\n"):
            if paragraph.strip():
                story.append(Paragraph(escape(paragraph), body))
        if table and index == 0:
            rows = [[Paragraph(escape(value), cell) for value in row] for row in table]
            grid = Table(rows, repeatRows=1, hAlign="LEFT")
            grid.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF2F7")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]))
            story.extend([Spacer(1, 3 * mm), grid])
    document.build(story)
    return buffer.getvalue()


def _yuan(value: Decimal | str) -> str:
    return f"{Decimal(value):,.2f}"


def _tender_document(tender: Tender, spec: TenderSpec, orgs: dict[str, Organisation]) -> SimpleUploadedFile:
    table = [["标段", "标段名称", "项目估算价（元）", "最高投标限价（元）", "投标保证金（元）", "评标办法"]]
    for number, lot in enumerate(spec.lots, start=1):
        table.append([
            str(number), lot.name, _yuan(lot.estimated), _yuan(lot.control), _yuan(lot.security),
            str(EvaluationMethod(lot.method).label),
        ])
    sections = [
        ("第一章 投标人须知前附表",
         f"项目编号：{tender.code}\n项目名称：{spec.project_name}\n招标人：{orgs[spec.tenderer].name}\n"
         f"招标代理机构：{tender.agency.name}\n"
         "投标截止时间、开标时间以招标公告及阳光开标平台显示为准（北京时间）。"),
        ("第二章 项目概况与招标范围", spec.scope),
        ("第三章 投标人资格要求", spec.qualification + "\n本次招标不接受联合体投标。"),
        ("第四章 评标办法",
         "评标委员会由招标人代表和从评标专家库中随机抽取的专家组成，成员人数为5人以上单数，其中专家不少于成员总数的三分之二。"
         "评标委员会按照招标文件规定的评标办法进行评审，推荐不超过3名有排序的中标候选人。"),
        ("第五章 投标文件的编制与递交",
         "投标人应使用阳光开标投标文件制作工具编制并加密投标文件，在投标截止时间前上传至平台。"
         "未加密的投标文件平台将拒收；投标截止时间后上传的投标文件，平台不予接收。"
         "本项目采用不见面开标，投标人应在开标后规定的解密时限内完成投标文件解密。"),
        ("第六章 合同主要条款",
         "合同价款按中标价确定；付款方式、履约担保、工期或供货期及违约责任等以招标文件所附合同条款为准。"),
    ]
    pdf = render_pdf(f"{spec.project_name} 招标文件", sections, table)
    return SimpleUploadedFile(f"{tender.code}-招标文件.pdf", pdf, "application/pdf")


def _announcement(spec: TenderSpec, orgs: dict[str, Organisation]) -> str:
    tenderer, contact = orgs[spec.tenderer], _agency_of(spec, orgs)
    return (
        f"一、招标条件\n本招标项目{spec.project_name}已由{spec.approver}批准，招标人为{tenderer.name}，"
        f"资金来自{spec.funds}。项目已具备招标条件，现委托{contact.name}对该项目进行公开招标。\n\n"
        f"二、项目概况与招标范围\n{spec.scope}\n\n"
        f"三、投标人资格要求\n{spec.qualification}本次招标不接受联合体投标。\n\n"
        "四、招标文件的获取\n凡有意参加投标者，请于招标文件获取期内登录阳光开标电子交易平台获取电子招标文件。\n\n"
        "五、投标文件的递交\n投标人应在投标截止时间前通过平台加密上传投标文件，逾期上传的投标文件平台不予接收。"
        "本项目采用不见面开标，投标人无需到达开标现场。\n\n"
        "六、发布公告的媒介\n本次招标公告同时在中国招标投标公共服务平台和阳光开标电子交易平台上发布。\n\n"
        f"七、联系方式\n招标人：{tenderer.name}　地址：{tenderer.address}\n"
        f"招标代理机构：{contact.name}　地址：{contact.address}\n"
        f"联系人：{contact.contact_name}　电话：{contact.contact_phone}"
    )


def _agency_of(spec: TenderSpec, orgs: dict[str, Organisation]) -> Organisation:
    return orgs["agency" + spec.agent.removeprefix("agent")]


# --- time -------------------------------------------------------------------------------


def _local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _open_lot_times(deadline_days: int) -> dict[str, dt.datetime]:
    deadline = _local(deadline_days, 9, 30)
    return {
        "doc_start": timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=1),
        "doc_end": _local(deadline_days - 6, 17, 0),
        "bid_deadline": deadline,
        "opening_time": deadline,
    }


def _closing_lot_times(closing: dt.datetime, *, opens_later: bool) -> dict[str, dt.datetime]:
    return {
        "doc_start": timezone.now() - dt.timedelta(minutes=1),
        "doc_end": closing,
        "bid_deadline": closing,
        "opening_time": closing + dt.timedelta(days=2) if opens_later else closing,
    }


def _ceremony_lot_times(minutes: int) -> dict[str, dt.datetime]:
    """Bidding open now and closing at the opening, ``minutes`` ahead rounded up to a whole minute."""
    now = timezone.now()
    opening = now + dt.timedelta(minutes=minutes)
    if opening.second or opening.microsecond:
        opening = opening.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return {
        "doc_start": now - dt.timedelta(minutes=1),
        "doc_end": opening,
        "bid_deadline": opening,
        "opening_time": opening,
    }


# --- seeding ------------------------------------------------------------------------------


class SeedTooSlow(Exception):
    """The past-state tenders could not be published and bid on before their own deadlines."""


@dataclass
class _DemoKeys:
    """The key sets registered for the demo organisations, kept in memory until their backups are written."""

    # organisation id -> (organisation name, its demo user's username, key set)
    sets: dict[int, tuple[str, str, sealing_keys.KeySet]] = field(default_factory=dict)
    # The backup files found in the directory and reused: written again only if missing.
    reused: set[str] = field(default_factory=set)

    def of(self, user: User) -> sealing_keys.KeySet:
        """The key set of ``user``'s organisation."""
        return self.sets[user.organisation_id][2]

    def write_backups(self, directory: Path, log: Log) -> None:
        """One backup file per organisation (PBKDF2 at full strength), and a README naming them."""
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            "阳光开标演示数据：各单位的密钥备份文件（Sunbid demo key backups）",
            f"备份口令 / passphrase: {DEMO_KEY_PASSPHRASE}",
            "用法：以该单位的演示账号登录，在“本单位密钥”页面选择“从备份恢复”，选择对应文件并输入口令。",
            "Use: sign in as the organisation's demo user, open the key page, restore from backup.",
            "投标人用它在开标室解密本单位的投标文件；招标代理机构、招标人和监督部门用它提交开标密钥分片。",
            "Bidders decrypt their own bids in the opening room with it; agencies, tenderers and the",
            "supervising authority hand in their opening-key shares with it.",
            "",
        ]
        missing: list[tuple[Path, sealing_keys.KeySet]] = []
        for name, username, keyset in self.sets.values():
            filename = backup_filename(keyset.organisation, keyset.encryption_fingerprint)
            if filename not in self.reused or not (directory / filename).exists():
                missing.append((directory / filename, keyset))
            lines.append(f"{filename}  {name}  ({username})")

        def write(item: tuple[Path, sealing_keys.KeySet]) -> None:
            path, keyset = item
            path.write_bytes(sealing_keys.backup_dump(keyset, DEMO_KEY_PASSPHRASE))

        # PBKDF2 at 600,000 rounds runs outside Python's lock: the files are written side by side.
        with ThreadPoolExecutor(max_workers=_KEY_THREADS, thread_name_prefix="demo-backups") as pool:
            list(pool.map(write, missing))
        written = len(missing)
        (directory / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        log(f"Key backups of {len(self.sets)} organisations in {directory} ({written} written, "
            f"{len(self.sets) - written} reused; passphrase: {DEMO_KEY_PASSPHRASE}).")


def _existing_backups(directory: Path, log: Log) -> dict[str, tuple[str, sealing_keys.KeySet]]:
    """The demo key backups already in ``directory`` that open with the demo passphrase, by credit code.

    Reusing them keeps a browser that restored one working after the database
    is seeded again, and saves generating the key. Where an organisation has
    several, the newest is taken; a file that does not open is left alone.
    """
    found: dict[str, tuple[str, sealing_keys.KeySet]] = {}
    if not directory.is_dir():
        return found
    paths = sorted(directory.glob("sunbid-keys-*-demo.json"))

    def load(path: Path) -> sealing_keys.KeySet | None:
        try:
            return sealing_keys.backup_load(path.read_bytes(), DEMO_KEY_PASSPHRASE)
        except (OSError, SealingError):
            return None

    # PBKDF2 at 600,000 rounds runs outside Python's lock: the files are read side by side.
    with ThreadPoolExecutor(max_workers=_KEY_THREADS, thread_name_prefix="demo-backups") as pool:
        loaded = list(pool.map(load, paths))
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    for path, keyset in zip(paths, loaded, strict=True):
        if keyset is None:
            log(f"Ignoring {path.name}: not a key backup that opens with the demo passphrase.")
            continue
        if path.name != backup_filename(keyset.organisation, keyset.encryption_fingerprint):
            continue  # not a name the seeder writes: leave it to whoever put it there
        current = found.get(keyset.organisation)
        if current is None or (keyset.created or oldest) > (current[1].created or oldest):
            found[keyset.organisation] = (path.name, keyset)
    return found


def _spki(key: Any) -> bytes:
    return sealing_keys.spki_der(key)


class _KeySupply:
    """RSA-3072 keys made in background threads ahead of need, handed out in order.

    A key takes from a third of a second to a second of prime search, which
    OpenSSL runs without Python's lock: made beside the seeding they add little
    to it, and the past-state tenders — published with deadlines only seconds
    ahead — never wait for one.
    """

    def __init__(self, make: Callable[[], rsa.RSAPrivateKey], count: int) -> None:
        self._make = make
        self._executor = ThreadPoolExecutor(max_workers=_KEY_THREADS, thread_name_prefix="demo-keys")
        self._futures: deque[Future[rsa.RSAPrivateKey]] = deque(
            self._executor.submit(make) for _ in range(count)
        )

    def take(self) -> rsa.RSAPrivateKey:
        """The next key made in advance, or a new one once they are used up."""
        if self._futures:
            return self._futures.popleft().result()
        return self._make()

    def wait_for(self, count: int) -> None:
        """Block until the next ``count`` keys are made."""
        for future in list(self._futures)[:count]:
            future.result()

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _keys_made_in_advance(count: int) -> Iterator[_KeySupply]:
    """Make ``count`` RSA-3072 keys in the background; publication takes its opening keys from them.

    ``opening.crypto.generate_opening_key`` (which ``tender_publish`` calls for
    every lot) is replaced by the supply while seeding — the demo is the only
    thing this process does — and put back on leaving.
    """
    made = opening_crypto.generate_opening_key
    supply = _KeySupply(made, count)
    opening_crypto.generate_opening_key = supply.take
    try:
        yield supply
    finally:
        opening_crypto.generate_opening_key = made
        supply.close()


def _published_lot_count() -> int:
    return sum(len(spec.lots) for spec in (*TENDERS, CEREMONY) if spec.key != "draft")


def _bid_document(tender: Tender, spec: TenderSpec, number: int, lot_spec: LotSpec, bid: BidSpec,
                  bidder: Organisation) -> bytes:
    """The bidder's bid letter (投标函) for lot ``number`` as a small real PDF: what its sealed bid carries."""
    labels = {key: label for key, label, _required in lot_spec.bid_fields}
    table = [["条款名称", "投标人响应"], ["投标报价（元）", _yuan(bid.price)],
             ["工期/供货期/服务期（日历天）", str(bid.duration_days)], ["质量标准", bid.quality]]
    table += [[labels.get(key, key), value] for key, value in bid.fields]
    sections = [
        ("投标函",
         f"致：{tender.tenderer.name}、{tender.agency.name}\n"
         f"我方已仔细研究了{spec.project_name}（项目编号：{tender.code}）招标文件的全部内容，"
         f"愿意以人民币{_yuan(bid.price)}元的投标总报价参加第{number}标段“{lot_spec.name}”的投标，"
         f"按招标文件的要求承担并完成本标段的全部内容，质量标准为{bid.quality}。\n"
         "我方承诺在投标有效期内不修改、撤销投标文件，并接受招标文件规定的评标办法。投标函附录如下。"),
        ("投标人", f"{bidder.name}（统一社会信用代码：{bidder.credit_code}）\n地址：{bidder.address}\n"
                 f"联系人：{bidder.contact_name}　电话：{bidder.contact_phone}"),
    ]
    return render_pdf(f"{spec.project_name} 投标文件（第{number}标段）", sections, table)


class _Seeder:
    def __init__(self, *, closing_delay: float, experts: int, ceremony_minutes: int, log: Log) -> None:
        self.closing_delay = closing_delay
        self.expert_count = experts
        self.ceremony_minutes = ceremony_minutes
        self.log = log
        self.orgs: dict[str, Organisation] = {}
        self.users: dict[str, User] = {}
        self.tenders: dict[str, Tender] = {}
        self.specs = {spec.key: spec for spec in (*TENDERS, CEREMONY)}
        self.keys = _DemoKeys()
        # (tender key, lot number, bidder username) -> the bid letter PDF
        self.documents: dict[tuple[str, int, str], bytes] = {}

    def run(self) -> None:
        existing = _existing_backups(demo_keys_dir(), self.log)
        holders = self.key_holders()
        codes = {spec.key: make_credit_code(spec.code17) for spec in ORGANISATIONS}
        fresh = sum(1 for key in holders if codes[key] not in existing)
        # The keys are made while the organisations and people are created (hashing passwords).
        with _keys_made_in_advance(fresh + _published_lot_count()) as supply:
            self.create_organisations()
            self.create_people(PEOPLE)
            self.register_keys(holders, existing)
            # The tenders shown in past states go first, so that their short
            # deadlines run out while everything else is being built.
            closing = self.publish_closing_batch(supply)
            self.log(f"Creating {self.expert_count} experts…")
            experts = expert_people(self.expert_count)
            self.create_people(experts)
            self.create_expert_pool(experts)
            self.create_open_tenders()
            self.wait_until(closing)
            self.finish_closing_batch()
            security_demo(finance=self.users["finance"])
            complaints_demo()
            self.publish_ceremony()

    def create_organisations(self) -> None:
        for spec in ORGANISATIONS:
            self.orgs[spec.key] = organisation_create(
                actor=None, name=spec.name, code=make_credit_code(spec.code17), kind=spec.kind,
                region=spec.region, address=spec.address, contact_name=spec.contact_name,
                contact_phone=spec.contact_phone,
            )

    def create_people(self, people: list[UserSpec] | tuple[UserSpec, ...]) -> None:
        admin = self.users.get("admin")
        for index, spec in enumerate(people):
            can_sign_in = spec.role != Role.EXPERT or index < DEMO_EXPERT_LOGINS
            self.users[spec.username] = user_create(
                actor=admin, organisation=self.orgs[spec.org], username=spec.username,
                password=DEMO_PASSWORD if can_sign_in else None,
                roles=[spec.role], full_name=spec.full_name, email=f"{spec.username}@{_EMAIL_DOMAIN}",
                mobile=spec.mobile,
            )

    @staticmethod
    def key_holders() -> dict[str, str]:
        """The organisations that register keys, each with the demo user who registers them."""
        holders: dict[str, str] = {}
        for spec in PEOPLE:
            if spec.role in KEY_HOLDER_ROLES:
                holders.setdefault(spec.org, spec.username)
        return holders

    def register_keys(self, holders: dict[str, str], existing: dict[str, tuple[str, sealing_keys.KeySet]]) -> None:
        """A key set for every custodian and bidder organisation, registered by its demo user.

        A backup already in ``var/demo-keys/`` for the organisation is reused;
        otherwise the keys are made as a browser would make them.
        """
        self.log("Registering the organisations' keys (custodians and bidders)…")
        for org_key, username in holders.items():
            organisation = self.orgs[org_key]
            if organisation.credit_code in existing:
                filename, keyset = existing[organisation.credit_code]
                self.keys.reused.add(filename)
            else:
                keyset = sealing_keys.KeySet(
                    organisation=organisation.credit_code,
                    encryption_private=opening_crypto.generate_opening_key(),
                    signing_private=sealing_keys.generate_signing_key(),
                    created=timezone.now(),
                )
            organisation_key_register(
                actor=self.users[username],
                encryption_public=_spki(keyset.encryption_private.public_key()),
                signing_public=_spki(keyset.signing_private.public_key()),
            )
            self.keys.sets[organisation.pk] = (organisation.name, username, keyset)

    def create_expert_pool(self, people: list[UserSpec]) -> None:
        """Each demo expert's pool record, linked to their account, through the pool services (audited)."""
        admin = self.users["admin"]
        today = timezone.localdate()
        for profile in expert_profiles(people):
            expert = expert_pool.expert_create(actor=admin, data=profile.data, user=self.users[profile.username])
            for key, kind in profile.conflicts:
                organisation = self.orgs[key]
                expert_pool.expert_conflict_declare(
                    actor=admin, expert=expert, credit_code=organisation.credit_code,
                    organisation_name=organisation.name, kind=kind,
                )
            for offset, days, note in profile.unavailable:
                start = today + dt.timedelta(days=offset)
                expert_pool.expert_unavailability_add(
                    actor=admin, expert=expert, start=start, end=start + dt.timedelta(days=days - 1), note=note
                )
            if profile.status is not None:
                status, reason = profile.status
                expert_pool.expert_set_status(actor=admin, expert=expert, status=status, reason=reason)

    def draft(self, key: str, *, lot_times: dict[str, dt.datetime] | None = None) -> Tender:
        """Create the announcement and its tender document; lots only when their times are known."""
        spec = self.specs[key]
        agent = self.users[spec.agent]
        agency = _agency_of(spec, self.orgs)
        tender = tendering.tender_create(
            actor=agent,
            data=tendering.TenderInput(
                title=spec.title, project_name=spec.project_name, tenderer_id=self.orgs[spec.tenderer].pk,
                category=spec.category, region=self.orgs[spec.tenderer].region,
                description=_announcement(spec, self.orgs),
                contact_name=agency.contact_name, contact_phone=agency.contact_phone,
                supervising_authority_id=self.orgs["supervisor"].pk,
            ),
        )
        tendering.document_upload(actor=agent, tender=tender, upload=_tender_document(tender, spec, self.orgs))
        if lot_times is not None:
            self.add_lots(tender, spec, lot_times)
        self.tenders[key] = tender
        return tender

    def add_lots(self, tender: Tender, spec: TenderSpec, times: dict[str, dt.datetime]) -> None:
        for lot in spec.lots:
            tendering.lot_save(
                actor=self.users[spec.agent], tender=tender,
                data=tendering.LotInput(
                    name=lot.name, estimated_price=lot.estimated_price, control_price=Decimal(lot.control),
                    bid_security=Decimal(lot.security), evaluation_method=lot.method, **times,
                    decryption_minutes=lot.decryption_minutes,
                    bid_fields=tuple(
                        {"key": key, "label": label, "required": required} for key, label, required in lot.bid_fields
                    ),
                ),
            )

    def publish(self, key: str) -> Tender:
        spec = self.specs[key]
        tender = tendering.tender_publish(actor=self.users[spec.agent], tender=self.tenders[key])
        for username in spec.obtainers:
            tendering.documents_obtain(actor=self.users[username], tender=tender)
        self.tenders[key] = tender
        return tender

    def lots_of(self, key: str) -> list[tuple[Lot, LotSpec]]:
        spec = self.specs[key]
        return list(zip(self.tenders[key].lots.order_by("number"), spec.lots, strict=True))

    def write_bid_letters(self, key: str) -> None:
        """Render each bid's letter before the lots are even saved: sealing and uploading are then quick."""
        spec, tender = self.specs[key], self.tenders[key]
        for number, lot_spec in enumerate(spec.lots, start=1):
            for bid in lot_spec.bids:
                bidder = self.users[bid.bidder].organisation
                self.documents[(key, number, bid.bidder)] = _bid_document(tender, spec, number, lot_spec, bid, bidder)

    def submit_bids(self, key: str) -> None:
        """Each bidder of the tender's lots seals its bid with its own keys and uploads it (bidding.services)."""
        for lot, lot_spec in self.lots_of(key):
            opening_key, _fingerprint = opening_public_key(lot)
            for bid in lot_spec.bids:
                user = self.users[bid.bidder]
                keyset = self.keys.of(user)
                document = self.documents[(key, lot.number, bid.bidder)]
                sealed = BytesIO()
                sealing_format.seal(
                    sealed, tender=lot.tender.code, lot=lot.number, bidder=user.organisation.credit_code,
                    bidder_key=keyset.encryption_private.public_key(), opening_key=opening_key,
                    signing_key=keyset.signing_private, summary=bid.summary(),
                    files=[(FileEntry("投标文件.pdf", len(document), "application/pdf"), BytesIO(document))],
                )
                _upload(user, lot, sealed.getvalue())

    def publish_closing_batch(self, supply: _KeySupply) -> dt.datetime:
        """Publish the past-state tenders with deadlines ``closing_delay`` ahead, and bid on them in time.

        Everything that can be made beforehand is (announcements, documents,
        bid letters, opening keys); each tender's deadline is set just before
        its own publication, so the time between only has to cover that
        tender's publication and bids. Returns the last deadline.
        """
        for key in _CLOSING_BATCH:
            self.draft(key)
            self.write_bid_letters(key)
        # Publication must not wait for a key to be made once the deadlines are set.
        supply.wait_for(sum(len(self.specs[key].lots) for key in _CLOSING_BATCH))
        closing = timezone.now()
        for key in _CLOSING_BATCH:
            closing = timezone.now() + dt.timedelta(seconds=self.closing_delay)
            try:
                times = _closing_lot_times(closing, opens_later=key in _OPENS_LATER)
                self.add_lots(self.tenders[key], self.specs[key], times)
                self.publish(key)
                self.submit_bids(key)
            except DomainError as exc:
                if exc.code in ("lot.times_in_past", "documents.window_closed", "bid.deadline_passed"):
                    raise SeedTooSlow(
                        f"a past-state tender's deadline ({self.closing_delay:g} s ahead) passed before it was "
                        f"published and bid on ({exc.code}); run again with a longer --closing-delay"
                    ) from exc
                raise
        return closing

    def create_open_tenders(self) -> None:
        self.draft("draft", lot_times=_open_lot_times(45))
        for key in ("outpatient", "campus", "pipes", "consumables", "sludge", "gym", "canteen"):
            self.draft(key, lot_times=_open_lot_times(self.specs[key].deadline_days))
            self.publish(key)
        self.amend_gym()
        spec = self.specs["canteen"]
        tendering.tender_cancel(actor=self.users[spec.agent], tender=self.tenders["canteen"], reason=_CANCEL_REASON)

    def amend_gym(self) -> None:
        spec, tender = self.specs["gym"], self.tenders["gym"]
        agent = self.users[spec.agent]
        tendering.amendment_publish(
            actor=agent, tender=tender, title="关于体育馆新建工程招标文件的答疑澄清（第1号）",
            body="问：游泳池设备是否包含在本次招标范围内？\n答：游泳池水处理设备及安装包含在本次招标范围内，"
                 "详见招标文件第二章。\n问：现场踏勘如何安排？\n答：本项目不组织集中踏勘，投标人可自行前往现场踏勘。",
            affects_preparation=False,
        )
        lot = tender.lots.get()
        new_deadline = lot.bid_deadline + dt.timedelta(days=7)
        body = (
            "1. 工程量清单中“室内篮球馆木地板”项目特征由“22mm实木运动地板”修正为“22mm枫木运动地板（含龙骨）”，"
            "修正后的工程量清单见附件。\n"
            f"2. 因上述修正影响投标文件编制，投标截止时间及开标时间顺延至"
            f"{timezone.localtime(new_deadline):%Y年%m月%d日 %H:%M}（北京时间）。"
        )
        attachment = render_pdf("体育馆新建工程招标文件补遗（第2号）", [("补遗内容", body)])
        tendering.amendment_publish(
            actor=agent, tender=tender, title="关于体育馆新建工程招标文件的补遗（第2号）", body=body,
            affects_preparation=True, new_deadline=new_deadline,
            files=[SimpleUploadedFile("补遗文件（第2号）.pdf", attachment, "application/pdf")],
        )

    def wait_until(self, moment: dt.datetime) -> None:
        remaining = (moment - timezone.now()).total_seconds()
        if remaining > 0:
            self.log(f"Waiting {remaining:.1f} s for the demo bid deadlines to pass…")
            time.sleep(remaining)
        while timezone.now() < moment:
            time.sleep(0.05)

    def tenderer_rep(self, spec: TenderSpec) -> User:
        return next(self.users[p.username] for p in PEOPLE if p.org == spec.tenderer and p.role == Role.TENDERER_REP)

    def finish_closing_batch(self) -> None:
        """The deadlines have passed: everyone signs in, the sweep opens the rooms, the ceremonies run.

        The sweep closes bidding everywhere, leaves the dormitory furniture lot
        waiting for its opening in two days, fails the property lot (two bids
        for a minimum of three, TR 44) and opens the other rooms; their
        openings then run to the signed record, and evaluation to the award.
        """
        for key in _CLOSING_BATCH:
            if key in _OPENS_LATER:
                continue
            spec = self.specs[key]
            for lot, lot_spec in self.lots_of(key):
                attendees = [spec.agent, "supervisor", *(bid.bidder for bid in lot_spec.bids)]
                for username in attendees:
                    room_services.room_sign_in(actor=self.users[username], lot=lot)
                room_services.room_sign_in(actor=self.tenderer_rep(spec), lot=lot)
        tendering.lots_advance_due()
        for key in ("ultrasound", "waterworks"):
            spec = self.specs[key]
            agent = self.users[spec.agent]
            for lot, lot_spec in self.lots_of(key):
                lot = self.hold_opening(lot, spec, lot_spec)
                lot = tendering.lot_start_evaluation(actor=agent, lot=lot)
                tendering.lot_award(
                    actor=agent, lot=lot, winner=self.orgs[str(lot_spec.winner)], award_price=Decimal(str(lot_spec.award))
                )

    def hold_opening(self, lot: Lot, spec: TenderSpec, lot_spec: LotSpec) -> Lot:
        """A past lot's opening as it went in its room (opening.room_services), from decryption to the record.

        Every bidder decrypts its own bid with its own key, the host reads
        them out, an objection (where the spec has one) is answered, every
        bidder confirms the reading with its signing key, and the host closes
        the room: the signed opening record is published and the lot is opened.
        """
        host = self.users[spec.agent]
        for bid_spec in lot_spec.bids:
            user = self.users[bid_spec.bidder]
            bid = Bid.objects.get(lot=lot, organisation=user.organisation, status=BidStatus.CURRENT)
            keyset = self.keys.of(user)
            file_key = bidding.file_key_from_private_key(
                bid=bid, role="bidder", private_key=keyset.encryption_private
            )
            room_services.room_decrypt(actor=user, lot=lot, file_key=file_key)
        while Room.objects.get(lot=lot).stage == RoomStage.READING:
            room_services.room_read_next(actor=host, lot=lot)
        if lot_spec.objection is not None:
            objection = room_services.room_object(
                actor=self.users[lot_spec.objection.bidder], lot=lot, text=lot_spec.objection.text
            )
            room_services.room_answer(actor=host, lot=lot, objection_id=objection.pk, text=lot_spec.objection.answer)
        digest = Room.objects.get(lot=lot).reading_digest
        for bid_spec in lot_spec.bids:
            user = self.users[bid_spec.bidder]
            keyset = self.keys.of(user)
            message = room_services.confirmation_text(
                lot_id=lot.pk, digest=digest, credit_code=user.organisation.credit_code
            )
            signature = keyset.signing_private.sign(message, ec.ECDSA(hashes.SHA256()))
            room_services.room_confirm(actor=user, lot=lot, signature=base64.b64encode(signature).decode("ascii"))
        room_services.room_close(actor=host, lot=lot)
        return Lot.objects.select_related("tender").get(pk=lot.pk)

    def publish_ceremony(self) -> None:
        """The live ceremony's tender, published last so that it opens ``ceremony_minutes`` from now."""
        self.draft(CEREMONY.key)
        self.write_bid_letters(CEREMONY.key)
        self.add_lots(self.tenders[CEREMONY.key], CEREMONY, _ceremony_lot_times(self.ceremony_minutes))
        self.publish(CEREMONY.key)
        self.submit_bids(CEREMONY.key)
        lot = self.tenders[CEREMONY.key].lots.get()
        self.log(f"The live ceremony lot opens at {timezone.localtime(lot.opening_time):%Y-%m-%d %H:%M} "
                 f"with {len(CEREMONY.lots[0].bids)} sealed bids.")


def _upload(user: User, lot: Lot, data: bytes) -> Bid:
    """Upload a sealed bid through the services, part by part, as the browser does."""
    upload = bidding.upload_create(actor=user, lot=lot, size=len(data))
    outcome = None
    for index in range(upload.part_count):
        part = data[index * upload.part_size : (index + 1) * upload.part_size]
        outcome = bidding.upload_part_put(
            actor=user, upload=upload, index=index, body=BytesIO(part),
            sha256=hashlib.sha256(part).hexdigest(), length=len(part),
        )
    if outcome is None or outcome.bid is None:
        raise RuntimeError(f"the demo bid of {user.username} for lot {lot.pk} was not completed")
    return outcome.bid


def seed(
    *,
    closing_delay: float = DEFAULT_CLOSING_DELAY,
    experts: int = DEFAULT_EXPERTS,
    ceremony_minutes: int = DEFAULT_CEREMONY_MINUTES,
    log: Log | None = None,
) -> SeedResult:
    """Build the demo unless it is there already; return the logins and the live ceremony either way.

    Runs in one transaction: an interrupted run leaves nothing behind, so the
    marker (the trading centre's credit code) only ever marks a complete demo.
    ``closing_delay`` is how many seconds ahead the past-state tenders'
    deadlines are set; the call waits that long. ``ceremony_minutes`` is how
    long after seeding the live ceremony lot opens. Raises ``SeedTooSlow``
    when the machine could not publish and bid on the past-state tenders
    within ``closing_delay``, ``DomainError`` when a service refused a step.
    """
    if closing_delay < MIN_CLOSING_DELAY:
        raise ValueError(f"closing_delay must be at least {MIN_CLOSING_DELAY} seconds")
    if ceremony_minutes < MIN_CEREMONY_MINUTES:
        raise ValueError(f"ceremony_minutes must be at least {MIN_CEREMONY_MINUTES}")
    result = logins(experts)
    if is_seeded():
        return SeedResult(created=False, logins=result.logins, expert_count=experts,
                          expert_range=result.expert_range, ceremony=ceremony_info())
    seeder = _Seeder(
        closing_delay=closing_delay, experts=experts, ceremony_minutes=ceremony_minutes,
        log=log or (lambda message: None),
    )
    # The demo's addresses are fictitious: notification mails stay in memory
    # instead of going to a real server or burying the output on the console.
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
        transaction.atomic(),
    ):
        seeder.run()
    # Only once committed: a backup of a key the database never kept would be useless.
    seeder.keys.write_backups(demo_keys_dir(), seeder.log)
    return SeedResult(created=True, logins=result.logins, expert_count=experts, expert_range=result.expert_range,
                      ceremony=ceremony_info())
