"""Writes of the opening keys: made at publication, rebuilt from the custodians' shares after the opening time.

The design, the threat model and the custodians' procedure are in
docs/opening-keys.md. In short: at publication every lot gets a fresh
RSA-3072 opening key pair; the private key is sealed (AES-256-GCM) under a
random key encryption key (KEK); the KEK is split k-of-n (Shamir over
GF(256)) among the lot's custodian organisations, each share encrypted to the
custodian's registered public key; the KEK and the private key in the clear
are dropped before the transaction commits. After the opening time the
custodians decrypt their shares in their browsers and submit them; once k
valid shares are in, the key is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationKey, User
from accounts.selectors import organisation_key_active
from audit.services import record
from core.errors import DomainError, NotFound
from opening import crypto, shamir
from opening.models import Custodian, OpeningKey
from opening.selectors import (
    MAX_CUSTODIANS,
    MIN_CUSTODIANS,
    MIN_THRESHOLD,
    acts_for_custodian,
    custodians_planned,
)
from tendering.models import Lot, LotStatus


@dataclass(frozen=True, kw_only=True)
class CustodianPlan:
    organisation: Organisation
    key: OrganisationKey
    public_key: rsa.RSAPublicKey


def custody_validate(*, count: int, threshold: int) -> None:
    """The numbers a lot's custody must meet: 2 to 7 custodians, a threshold from 2 to their number."""
    if not MIN_CUSTODIANS <= count <= MAX_CUSTODIANS:
        raise DomainError(
            "opening.custodian_count",
            _("开标密钥保管单位应为%(min)d至%(max)d家（现为%(count)d家）。"),
            field="custodians",
            min=MIN_CUSTODIANS,
            max=MAX_CUSTODIANS,
            count=count,
        )
    if not MIN_THRESHOLD <= threshold <= count:
        raise DomainError(
            "opening.threshold",
            _("门限应在%(min)d至%(count)d之间（保管单位%(count)d家）。"),
            field="custodian_threshold",
            min=MIN_THRESHOLD,
            count=count,
        )


def _plan_custody(lot: Lot) -> list[CustodianPlan]:
    """Each planned custodian with its active encryption key; refused when one has none."""
    custodians = custodians_planned(lot=lot)
    custody_validate(count=len(custodians), threshold=lot.custodian_threshold)
    plans = []
    for organisation in custodians:
        key = organisation_key_active(organisation)
        if key is None:
            raise DomainError(
                "opening.custodian_without_key",
                _(
                    "开标密钥保管单位“%(organisation)s”尚未登记密钥，不能发布。请该单位在“本单位密钥”页面生成并登记密钥。"
                ),
                status=409,
                organisation=organisation.name,
            )
        try:
            public_key = crypto.load_public(bytes(key.encryption_public))
        except (ValueError, crypto.CustodianKeyInvalid):
            raise DomainError(
                "opening.custodian_key_invalid",
                _("开标密钥保管单位“%(organisation)s”登记的加密公钥无效，请重新登记。"),
                status=409,
                organisation=organisation.name,
            ) from None
        plans.append(CustodianPlan(organisation=organisation, key=key, public_key=public_key))
    return plans


def opening_keys_check(*, lots: Sequence[Lot]) -> None:
    """Refuse publication before anything is made if some lot's custody cannot be set up."""
    for lot in lots:
        _plan_custody(lot)


def opening_key_create(*, actor: User | None, lot: Lot) -> OpeningKey:
    """Make the lot's opening key and split its KEK among the lot's custodians.

    Called by ``tendering.services.tender_publish`` inside its transaction,
    with the lot's row locked. Refused (``opening.custodian_without_key``,
    naming the organisation) when a custodian has no active key. Nothing of
    the KEK or of the private key is stored in the clear: the database gets
    the public key, the sealed private key, and per custodian the share
    encrypted to it and a commitment. Audited as ``opening.key.created``.
    """
    plans = _plan_custody(lot)
    threshold = lot.custodian_threshold
    private_key = crypto.generate_opening_key()
    spki = crypto.spki_der(private_key.public_key())
    fingerprint = crypto.fingerprint_of_der(spki)
    kek = crypto.new_kek()
    try:
        sealed = crypto.seal_private_key(
            private_key, kek=kek, aad=crypto.private_key_aad(lot_id=lot.pk, fingerprint=fingerprint)
        )
        xs = list(range(1, len(plans) + 1))
        shares = shamir.split(kek, threshold=threshold, xs=xs)
    finally:
        crypto.wipe(kek)
    # The private key object goes out of scope here; nothing below can reach it.
    del private_key
    opening_key = OpeningKey.objects.create(
        lot=lot,
        algorithm=crypto.ALGORITHM,
        public_key=spki,
        fingerprint=fingerprint,
        sealed_private_key=sealed,
        threshold=threshold,
        created_at=timezone.now(),
    )
    rows = []
    for plan, share in zip(plans, shares, strict=True):
        share_bytes = bytearray(share.to_bytes())
        salt = crypto.new_salt()
        try:
            rows.append(
                Custodian(
                    opening_key=opening_key,
                    organisation=plan.organisation,
                    x=share.x,
                    key=plan.key,
                    encrypted_share=crypto.wrap(plan.public_key, share_bytes),
                    commitment_salt=salt,
                    commitment=crypto.share_commitment(
                        salt=salt, lot_id=lot.pk, fingerprint=fingerprint, share=share_bytes
                    ),
                )
            )
        finally:
            crypto.wipe(share_bytes)
    Custodian.objects.bulk_create(rows)
    record(
        "opening.key.created",
        actor=actor,
        obj=opening_key,
        data={
            "lot": lot.number,
            "algorithm": crypto.ALGORITHM,
            "fingerprint": fingerprint,
            "threshold": threshold,
            "custodians": [
                {
                    "x": row.x,
                    "organisation": row.organisation.name,
                    "credit_code": row.organisation.credit_code,
                    "key_fingerprint": row.key.encryption_fingerprint,
                    "commitment": row.commitment,
                }
                for row in rows
            ],
        },
    )
    return opening_key


@dataclass(frozen=True, kw_only=True)
class ShareReceipt:
    """What a custodian learns after submitting: how many shares are in and whether the key is rebuilt."""

    organisation: str
    submitted: int
    threshold: int
    rebuilt: bool
    already_submitted: bool


def _too_early(lot: Lot) -> DomainError:
    return DomainError(
        "opening.too_early",
        _("开标时间（%(time)s）之前不能提交密钥份额。"),
        status=409,
        time=timezone.localtime(lot.opening_time).strftime("%Y-%m-%d %H:%M"),
    )


def custodian_share_submit(*, actor: User, lot: Lot, share: bytes) -> ShareReceipt:
    """Take one custodian organisation's decrypted share of the lot's KEK.

    Only a user acting for a custodian organisation of the lot (its role for
    the organisation's kind) may submit (others: ``NotFound``); never before
    the lot's opening time (``opening.too_early``), never for a cancelled lot
    (``opening.lot_cancelled``). A share that does not match its commitment
    is refused (``opening.share_invalid``, naming the organisation). A second
    submission of the same share is a no-op (idempotent). When the k-th
    valid share comes in, the key is rebuilt in the same transaction
    (``opening_key_rebuild``). Audited as ``opening.share.submitted`` (never
    the share itself).
    """
    with transaction.atomic():
        opening_key = (
            OpeningKey.objects.select_for_update()
            .select_related("lot")
            .filter(lot_id=lot.pk)
            .first()
        )
        custodian = None
        if opening_key is not None:
            custodian = (
                Custodian.objects.select_for_update()
                .select_related("organisation")
                .filter(opening_key=opening_key, organisation_id=actor.organisation_id)
                .first()
            )
        if custodian is None or not acts_for_custodian(actor, custodian.organisation):
            raise NotFound("opening.custody_not_found", _("您不是该标段的开标密钥保管单位。"))
        lot = opening_key.lot
        now = timezone.now()
        if now < lot.opening_time:
            raise _too_early(lot)
        if lot.status == LotStatus.CANCELLED:
            raise DomainError(
                "opening.lot_cancelled", _("标段已终止，无需提交密钥份额。"), status=409
            )
        share = bytes(share)
        if (
            len(share) != crypto.SHARE_BYTES
            or share[0] != custodian.x
            or not crypto.share_matches(
                salt=bytes(custodian.commitment_salt),
                lot_id=lot.pk,
                fingerprint=opening_key.fingerprint,
                share=share,
                commitment=custodian.commitment,
            )
        ):
            raise DomainError(
                "opening.share_invalid",
                _(
                    "“%(organisation)s”提交的密钥份额与发布时的承诺值不符，未被接受。请确认使用的是本单位登记的密钥（指纹 %(fingerprint)s）。"
                ),
                status=400,
                organisation=custodian.organisation.name,
                fingerprint=custodian.key.encryption_fingerprint[:16],
            )
        already = custodian.has_submitted
        if not already:
            custodian.submitted_at = now
            custodian.submitted_by = actor
            # Once the key is rebuilt the share adds nothing: recorded, not kept.
            custodian.submitted_share = None if opening_key.is_rebuilt else share
            custodian.save(update_fields=["submitted_at", "submitted_by", "submitted_share"])
            record(
                "opening.share.submitted",
                actor=actor,
                obj=custodian,
                data={
                    "lot": lot.number,
                    "fingerprint": opening_key.fingerprint,
                    "organisation": custodian.organisation.name,
                    "credit_code": custodian.organisation.credit_code,
                    "x": custodian.x,
                },
            )
            was_rebuilt = opening_key.is_rebuilt
            if not was_rebuilt:
                opening_key_rebuild(lot=lot)
                opening_key.refresh_from_db()
        submitted = Custodian.objects.filter(
            opening_key=opening_key, submitted_at__isnull=False
        ).count()
        if not already:
            # The opening room shows the custodians' progress (the fallback of EB 31).
            from opening.room_services import room_custody_changed

            room_custody_changed(
                lot=lot,
                organisation_name=custodian.organisation.name,
                submitted=submitted,
                threshold=opening_key.threshold,
                count=Custodian.objects.filter(opening_key=opening_key).count(),
                rebuilt_now=opening_key.is_rebuilt and not was_rebuilt,
            )
        return ShareReceipt(
            organisation=custodian.organisation.name,
            submitted=submitted,
            threshold=opening_key.threshold,
            rebuilt=opening_key.is_rebuilt,
            already_submitted=already,
        )


def opening_key_rebuild(*, lot: Lot) -> OpeningKey | None:
    """Rebuild the lot's opening private key once k valid shares are in; otherwise do nothing.

    Runs automatically from ``custodian_share_submit``; safe to call again
    (idempotent). Refused before the opening time (``opening.too_early``).
    The shares (each checked against its commitment when it came in) are
    combined into the KEK, which must open the sealed private key under
    AES-256-GCM with the lot and fingerprint as associated data; a failure is
    ``opening.rebuild_failed`` and nothing changes. On success the private
    key is stored (PKCS#8 DER), the submitted shares are wiped, and
    ``opening.key.rebuilt`` is audited. Returns the key, or None while too
    few shares are in.
    """
    with transaction.atomic():
        opening_key = (
            OpeningKey.objects.select_for_update()
            .select_related("lot")
            .filter(lot_id=lot.pk)
            .first()
        )
        if opening_key is None:
            raise NotFound("opening.no_key", _("该标段尚无开标公钥。"))
        lot = opening_key.lot
        if opening_key.is_rebuilt:
            return opening_key
        if timezone.now() < lot.opening_time:
            raise _too_early(lot)
        custodians = list(
            opening_key.custodians.select_for_update()
            .select_related("organisation")
            .filter(submitted_share__isnull=False)
            .order_by("x")
        )
        if len(custodians) < opening_key.threshold:
            return None
        used = custodians[: opening_key.threshold]
        kek = shamir.combine(
            [shamir.Share.from_bytes(bytes(custodian.submitted_share)) for custodian in used]
        )
        aad = crypto.private_key_aad(lot_id=lot.pk, fingerprint=opening_key.fingerprint)
        try:
            der = crypto.open_private_key_der(
                bytes(opening_key.sealed_private_key), kek=kek, aad=aad
            )
        except InvalidTag:
            raise DomainError(
                "opening.rebuild_failed",
                _("开标密钥重建失败：密钥份额无法解开加密保存的开标私钥。请联系平台管理员核查。"),
                status=409,
            ) from None
        finally:
            crypto.wipe(kek)
        private_key = crypto.load_private_der(der)
        if (
            crypto.fingerprint_of_der(crypto.spki_der(private_key.public_key()))
            != opening_key.fingerprint
        ):
            raise DomainError(
                "opening.rebuild_failed",
                _("开标密钥重建失败：密钥份额无法解开加密保存的开标私钥。请联系平台管理员核查。"),
                status=409,
            )
        opening_key.private_key = der
        opening_key.rebuilt_at = timezone.now()
        opening_key.save(update_fields=["private_key", "rebuilt_at"])
        opening_key.custodians.update(submitted_share=None)
        record(
            "opening.key.rebuilt",
            actor=None,
            obj=opening_key,
            data={
                "lot": lot.number,
                "fingerprint": opening_key.fingerprint,
                "threshold": opening_key.threshold,
                "shares_used": [
                    {"x": custodian.x, "organisation": custodian.organisation.name}
                    for custodian in used
                ],
            },
        )
    return opening_key
