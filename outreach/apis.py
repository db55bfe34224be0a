"""The work queue over DRF: claim-next, verify, release, log outcome, schedule callback; launch and
eligibility trace for supervisors. Input serializer -> service -> output serializer."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from config.api_schema import ErrorDetail
from config.permissions import IsSupervisor
from config.roles import is_supervisor
from customers.apis import _raise_drf
from customers.models import Customer
from outreach.claiming import claim_next, claim_release, claim_verify
from outreach.launch import campaign_launch_start
from outreach.models import (
    CampaignLaunch,
    CampaignMember,
    ContactAttempt,
    Disposition,
    Lane,
)
from outreach.outcomes import callback_schedule, contact_log
from outreach.selectors import campaign_queue_counts, eligibility_trace

# -- serializers -------------------------------------------------------------------------------


class BlockOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    permanent = serializers.BooleanField()
    until = serializers.DateTimeField(allow_null=True)


class ClaimedCustomerOutput(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "name_kana", "phone", "mobile_phone", "email", "time_zone"]


class MemberOutput(serializers.ModelSerializer):
    campaign_name = serializers.CharField(source="campaign.name")
    channel = serializers.CharField(source="campaign.channel")
    lane = serializers.SerializerMethodField()

    class Meta:
        model = CampaignMember
        fields = [
            "id",
            "campaign",
            "campaign_name",
            "channel",
            "customer",
            "status",
            "lane",
            "attempts",
            "due_at",
            "claimed_at",
            "claim_expires_at",
            "close_reason",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=[lane.name.lower() for lane in Lane]))
    def get_lane(self, member: CampaignMember) -> str:
        return Lane(member.lane).name.lower()  # callback, retry or fresh


class ClaimOutput(serializers.Serializer):
    """What claim-next answers (``_claim_payload``): the claimed member with the customer and
    where to dial, or no member with a message. ``skipped``: members passed over, by reason."""

    member = MemberOutput(allow_null=True)
    customer = ClaimedCustomerOutput(required=False)
    dial = serializers.CharField(allow_null=True, required=False)
    local_time = serializers.CharField(allow_null=True, required=False)
    time_zone = serializers.CharField(allow_null=True, required=False)
    time_zone_fallback = serializers.BooleanField(allow_null=True, required=False)
    resumed = serializers.BooleanField(required=False)
    message = serializers.CharField(required=False)
    skipped = serializers.DictField(child=serializers.IntegerField())


class VerifyOutput(serializers.Serializer):
    allowed = serializers.BooleanField()
    dial = serializers.CharField(allow_null=True)
    blocks = BlockOutput(many=True)


def _claim_payload(result) -> dict:
    if result.member is None:
        return {
            "member": None,
            "message": result.message,
            "skipped": dict(result.skipped),
        }
    verdict = result.verdict
    return {
        "member": MemberOutput(result.member).data,
        "customer": ClaimedCustomerOutput(result.member.customer).data,
        "dial": verdict.phone if verdict else None,
        "local_time": verdict.window.local_time.isoformat() if verdict and verdict.window else None,
        "time_zone": verdict.window.zone if verdict and verdict.window else None,
        "time_zone_fallback": verdict.window.fallback if verdict and verdict.window else None,
        "resumed": result.resumed,
        "skipped": dict(result.skipped),
    }


def _member_for(request, member_id: int) -> CampaignMember:
    """A member the user may act on: supervisors any; agents only their claims and callbacks
    (anything else is a 404, not a 403, so ids reveal nothing)."""
    members = CampaignMember.objects.select_related("campaign", "customer")
    if not is_supervisor(request.user):
        members = members.filter(Q(claimed_by=request.user) | Q(callback_agent=request.user))
    try:
        return members.get(pk=member_id)
    except CampaignMember.DoesNotExist as error:
        raise Http404 from error


# -- agents ------------------------------------------------------------------------------------


class ClaimNextApi(APIView):
    """Claim the best member you may contact now (or get back the one you hold)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        campaign = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: ClaimOutput,
            404: OpenApiResponse(ErrorDetail, description="No such campaign"),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = None
        if data.validated_data.get("campaign"):
            campaign = get_object_or_404(Campaign, pk=data.validated_data["campaign"])
        result = claim_next(agent=request.user, campaign=campaign)
        return Response(_claim_payload(result))


class ClaimVerifyApi(APIView):
    """Right before dialling or sending: may this held member still be contacted?"""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: VerifyOutput,
            409: OpenApiResponse(VerifyOutput, description="Blocked: do not contact now"),
        },
    )
    def post(self, request, member_id: int):
        member = _member_for(request, member_id)
        verdict = claim_verify(member=member, agent=request.user)
        payload = {
            "allowed": verdict.allowed,
            "dial": verdict.phone,
            "blocks": BlockOutput(verdict.blocks, many=True).data,
        }
        return Response(payload, status=200 if verdict.allowed else status.HTTP_409_CONFLICT)


class ClaimReleaseApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=MemberOutput)
    def post(self, request, member_id: int):
        member = _member_for(request, member_id)
        try:
            member = claim_release(member=member, agent=request.user)
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(MemberOutput(member).data)


class ContactAttemptOutput(serializers.ModelSerializer):
    disposition = serializers.CharField(source="disposition.code")

    class Meta:
        model = ContactAttempt
        fields = [
            "id",
            "idempotency_key",
            "member",
            "campaign",
            "customer",
            "agent",
            "channel",
            "address",
            "disposition",
            "attempted_at",
            "duration_seconds",
            "notes",
            "voice_category",
            "voice_text",
            "nps",
            "callback_at",
            "callback_scope",
            "disclosure_given",
            "reached",
            "success",
            "counts_as_attempt",
        ]


class ContactAttemptCreateApi(APIView):
    """Log the outcome of a contact on a member you hold. Re-sending the same idempotency key
    returns the first attempt (200) instead of logging twice."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        member = serializers.IntegerField()
        disposition = serializers.SlugRelatedField(
            slug_field="code", queryset=Disposition.objects.all()
        )
        idempotency_key = serializers.CharField(max_length=80)
        notes = serializers.CharField(required=False, allow_blank=True, default="")
        duration_seconds = serializers.IntegerField(required=False, min_value=0, default=0)
        voice_category = serializers.CharField(required=False, allow_blank=True, default="")
        voice_text = serializers.CharField(required=False, allow_blank=True, default="")
        nps = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=10)
        callback_at = serializers.DateTimeField(required=False, allow_null=True)
        callback_personal = serializers.BooleanField(required=False, allow_null=True, default=None)
        disclosure_given = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ContactAttemptOutput,
            200: OpenApiResponse(ContactAttemptOutput, description="Replay of the same key"),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        member_id = fields.pop("member")
        # A double submission: the first one already released the claim; answer with it.
        replay = ContactAttempt.objects.filter(
            idempotency_key=fields["idempotency_key"], member_id=member_id, agent=request.user
        ).first()
        if replay is not None:
            return Response(ContactAttemptOutput(replay).data, status=status.HTTP_200_OK)
        member = _member_for(request, member_id)
        try:
            attempt = contact_log(member=member, agent=request.user, **fields)
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(ContactAttemptOutput(attempt).data, status=status.HTTP_201_CREATED)


class CallbackScheduleApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        at = serializers.DateTimeField()
        personal = serializers.BooleanField(required=False, default=True)

    @extend_schema(request=InputSerializer, responses=MemberOutput)
    def post(self, request, member_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = _member_for(request, member_id)
        try:
            member = callback_schedule(
                member=member,
                agent=request.user,
                at=data.validated_data["at"],
                personal=data.validated_data["personal"],
            )
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(MemberOutput(member).data)


# -- supervisors -------------------------------------------------------------------------------


class LaunchOutput(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    campaign_state = serializers.CharField(source="campaign.state")

    class Meta:
        model = CampaignLaunch
        fields = [
            "campaign",
            "campaign_state",
            "status",
            "step",
            "steps_done",
            "steps_total",
            "percent",
            "targeted",
            "excluded",
            "holdout",
            "treatment",
            "timings",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class CampaignLaunchApi(APIView):
    """GET: the launch's progress and counts. POST: launch a scheduled campaign (202)."""

    permission_classes = [IsSupervisor]

    @extend_schema(responses=LaunchOutput)
    def get(self, request, campaign_id: int):
        launch = get_object_or_404(
            CampaignLaunch.objects.select_related("campaign"), campaign_id=campaign_id
        )
        return Response(LaunchOutput(launch).data)

    @extend_schema(request=None, responses={202: LaunchOutput})
    def post(self, request, campaign_id: int):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        try:
            campaign_launch_start(campaign=campaign, by=request.user)
        except DjangoValidationError as error:
            _raise_drf(error)
        launch = CampaignLaunch.objects.select_related("campaign").get(campaign=campaign)
        return Response(LaunchOutput(launch).data, status=status.HTTP_202_ACCEPTED)


class QueueCountsOutput(serializers.Serializer):
    """``campaign_queue_counts``: members by status and group, what is due now by lane."""

    total = serializers.IntegerField()
    holdout = serializers.IntegerField()
    treatment = serializers.IntegerField()
    waiting_later = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    due_by_lane = serializers.DictField(child=serializers.IntegerField())
    closed_by_reason = serializers.DictField(child=serializers.IntegerField())


class CampaignQueueApi(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses=QueueCountsOutput)
    def get(self, request, campaign_id: int):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        return Response(campaign_queue_counts(campaign))


class WindowOutput(serializers.Serializer):
    open = serializers.BooleanField()
    time_zone = serializers.CharField()
    time_zone_fallback = serializers.BooleanField()
    local_time = serializers.DateTimeField()
    reason = serializers.CharField(allow_blank=True)
    opens_at = serializers.DateTimeField(allow_null=True)


class TraceStepOutput(serializers.Serializer):
    code = serializers.CharField()
    ok = serializers.BooleanField()
    label = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)


class EligibilityTraceOutput(serializers.Serializer):
    campaign = serializers.IntegerField()
    customer = serializers.IntegerField()
    at = serializers.DateTimeField()
    in_queue_now = serializers.BooleanField()
    summary = serializers.CharField(allow_blank=True)
    member = MemberOutput(allow_null=True)
    group = serializers.CharField(allow_null=True)
    claimed_by = serializers.CharField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True)
    window = WindowOutput(allow_null=True)
    steps = TraceStepOutput(many=True)


class EligibilityTraceApi(APIView):
    """Why is or isn't this customer in the campaign's queue right now."""

    permission_classes = [IsSupervisor]

    @extend_schema(responses=EligibilityTraceOutput)
    def get(self, request, campaign_id: int, customer_id: int):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        customer = get_object_or_404(Customer, pk=customer_id)
        trace = eligibility_trace(campaign=campaign, customer=customer)
        member = trace.member
        window = trace.window
        return Response(
            {
                "campaign": campaign.pk,
                "customer": customer.pk,
                "at": trace.now,
                "in_queue_now": trace.in_queue_now,
                "summary": trace.summary,
                "member": MemberOutput(member).data if member else None,
                "group": member.group if member else None,
                "claimed_by": member.claimed_by.get_username()
                if member and member.claimed_by
                else None,
                "next_due_at": trace.next_due_at,
                "window": {
                    "open": window.open,
                    "time_zone": window.zone,
                    "time_zone_fallback": window.fallback,
                    "local_time": window.local_time,
                    "reason": window.reason,
                    "opens_at": window.opens_at,
                }
                if window
                else None,
                "steps": [
                    {"code": s.code, "ok": s.ok, "label": s.label, "detail": s.detail}
                    for s in trace.steps
                ],
            }
        )
