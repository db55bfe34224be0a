"""factory_boy factories shared by the test suite."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignState
from config.roles import AGENT
from customers.models import Channel, ConsentRecord, Customer, CustomerRfm, Purchase, Segment
from outreach.models import AgentProfile, CampaignMember, Disposition, Team


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Sequence(lambda n: f"山田 太郎{n}")
    name_kana = "ヤマダ タロウ"
    phone = factory.Sequence(lambda n: f"+8135{n:08d}")
    mobile_phone = None
    email = factory.Sequence(lambda n: f"customer{n}@example.jp")
    country = "JP"
    time_zone = "Asia/Tokyo"


class CustomerRfmFactory(factory.django.DjangoModelFactory):
    """A scored customer in ``segment`` (the segment snapshot a campaign launches from)."""

    class Meta:
        model = CustomerRfm

    customer = factory.SubFactory(CustomerFactory)
    reference_date = factory.LazyFunction(timezone.localdate)
    recency_days = 400
    frequency = 2
    monetary = Decimal("20000")
    purchase_count = 2
    total_amount = Decimal("20000")
    r = 2
    f = 2
    m = 3
    scored_at = factory.LazyFunction(timezone.now)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    key = factory.Sequence(lambda n: f"segment-{n}")
    name = factory.Sequence(lambda n: f"Segment {n}")
    conditions: dict = {}
    position = factory.Sequence(lambda n: 1000 + n)


class CampaignFactory(factory.django.DjangoModelFactory):
    """A call campaign ready to be scheduled (disclosure filled in, dates set)."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = CampaignKind.DORMANT_REACTIVATION
    channel = Channel.CALL
    state = CampaignState.DRAFT
    product = "WATER-SERVER"
    starts_on = date(2026, 1, 1)
    ends_on = date(2027, 12, 31)
    disclosure_company = "株式会社サンプル"
    disclosure_product = "ウォーターサーバー"
    disclosure_purpose = "ご案内のお電話です"
    email_subject = "ご案内"
    email_body = "{{ name }} 様"
    sender_name = "株式会社サンプル"
    sender_postal_address = "東京都千代田区1-1"
    sender_contact = "03-0000-0000"
    holdout_percent = Decimal("0")
    window_start = time(9, 0)
    window_end = time(20, 0)
    frequency_cap_contacts = 0


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-1234-word")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=extracted or AGENT))
            self.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


def agent_on(team: Team, *, capacity: int = 80, username: str | None = None):
    """A user with the agent role on ``team``."""
    user = UserFactory(**({"username": username} if username else {}))
    AgentProfile.objects.create(user=user, team=team, capacity=capacity)
    return user


def purchase(customer: Customer, when: datetime, amount: int, order: str) -> Purchase:
    """Order ``order`` of one line, bought by ``customer`` at ``when``."""
    return Purchase.objects.create(
        customer=customer,
        line_key=f"{order}#1",
        order_id=order,
        purchased_at=when,
        amount=Decimal(amount),
    )


def purchase_days_ago(customer: Customer, days_ago: int, amount: int, order: str) -> Purchase:
    """Order ``order`` of one line, bought at noon in Tokyo ``days_ago`` days before today."""
    day = timezone.localdate() - timedelta(days=days_ago)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Asia/Tokyo"))
    return purchase(customer, noon, amount, order)


def consenting(customer: Customer | None = None, at: datetime | None = None, **fields) -> Customer:
    """``customer`` (a new one made with ``fields`` unless given) with e-mail consent granted
    through a form 30 days before ``at`` (now unless given)."""
    customer = customer or CustomerFactory(**fields)
    ConsentRecord.objects.create(
        customer=customer,
        channel=Channel.EMAIL,
        status=ConsentRecord.Status.GRANTED,
        source="form",
        recorded_at=(at or timezone.now()) - timedelta(days=30),
    )
    return customer


def member_of(campaign: Campaign, customer: Customer | None = None, **fields) -> CampaignMember:
    """A treatment-group member of ``campaign`` (a new customer unless given), due since the
    day before the campaign was created."""
    fields.setdefault("due_at", campaign.created_at - timedelta(days=1))
    fields.setdefault("group", "treatment")
    return CampaignMember.objects.create(
        campaign=campaign, customer=customer or CustomerFactory(), **fields
    )


def code(name: str) -> Disposition:
    """The disposition with code ``name``."""
    return Disposition.objects.get(code=name)


def refreshed(member: CampaignMember) -> CampaignMember:
    """``member`` reloaded from the database."""
    member.refresh_from_db()
    return member
