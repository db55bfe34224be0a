import pytest
from django.db import IntegrityError, transaction

from outreach.dispositions import DEFAULT_DISPOSITIONS, dispositions_ensure_defaults
from outreach.models import Disposition

pytestmark = pytest.mark.django_db


def test_seed_creates_defaults_with_their_meaning():
    assert Disposition.objects.count() == len(DEFAULT_DISPOSITIONS)
    success = Disposition.objects.get(code="success")
    assert (success.name_ja, success.reached, success.success, success.final_for_campaign) == (
        "成約",
        True,
        True,
        True,
    )
    assert success.requires_disclosure and success.shortcut == "1"
    interested = Disposition.objects.get(code="interested")
    assert interested.callback and interested.callback_scope == "personal"
    assert not interested.final_for_campaign
    assert Disposition.objects.get(code="callback_any").callback_scope == "any_agent"
    assert Disposition.objects.get(code="no_answer").retry_after_minutes == 120
    assert Disposition.objects.get(code="busy").retry_after_minutes == 30
    refused = Disposition.objects.get(code="refused")
    assert refused.refused_product and refused.final_for_campaign and not refused.do_not_contact
    dnc = Disposition.objects.get(code="do_not_contact")
    assert dnc.do_not_contact and dnc.final_for_campaign
    assert Disposition.objects.get(code="wrong_number").wrong_number
    unsub = Disposition.objects.get(code="unsubscribed")
    assert unsub.email_opt_out and unsub.channel == "email" and not unsub.do_not_contact
    shortcuts = set(Disposition.objects.exclude(shortcut="").values_list("shortcut", flat=True))
    assert shortcuts == set("1234567890")


@pytest.mark.parametrize(
    "flags",
    [
        {"callback": True},
        {"callback_scope": "personal"},
        {"success": True},
        {"refused_product": True},
        {"do_not_contact": True},
        {"email_opt_out": True},
        {"retry_after_minutes": 30, "final_for_campaign": True},
    ],
)
def test_contradictory_flags_are_refused(flags):
    with pytest.raises(IntegrityError), transaction.atomic():
        Disposition.objects.create(code="bad", name="Bad", **flags)


def test_duplicate_active_shortcut_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        Disposition.objects.create(code="dup", name="Dup", shortcut="1")
    Disposition.objects.create(code="dup_off", name="Inactive", shortcut="1", is_active=False)
    Disposition.objects.create(code="a", name="A")
    Disposition.objects.create(code="b", name="B")  # empty shortcuts never clash


def test_defaults_reseeded_after_deleting_all():
    assert dispositions_ensure_defaults() == 0
    Disposition.objects.all().delete()
    assert dispositions_ensure_defaults() == len(DEFAULT_DISPOSITIONS)
    assert Disposition.objects.filter(code="voicemail", retry_after_minutes=240).exists()


def test_admin_changelist_renders(admin_client):
    response = admin_client.get("/admin/outreach/disposition/")
    assert response.status_code == 200
    assert "留守電" in response.content.decode()
