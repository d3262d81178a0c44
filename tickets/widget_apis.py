"""Widget API (/api/v1/widget/): what a customer does from inside TourBrain, authenticated by a verified
JWT only (`tourbrain_support.widget_auth`).

A customer sees their own tickets (an organization admin also the organization's with
`scope=organization`); any other ticket is a 404, whether its reference is real or guessed. Output
carries public fields only: no internal notes, no team, assignee, tier, SLA state or version. Writes go
through the ticket services (audited with the customer as actor). Every view is throttled per IP before
the token is even looked at, then per user; bodies are size-limited before they are parsed.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.db import transaction
from django.http import FileResponse
from django_ratelimit.core import get_usage
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from audit.client_ip import client_ip
from knowledge_base.selectors import kb_suggestions
from tickets import customer_selectors, customer_services, intake, services, surveys
from tickets.beta import beta_profile_for_user
from tickets.models import Ticket
from tourbrain_support.api import ApplicationError, FlatSerializer
from tourbrain_support.selectors import user_organizations, user_tier
from tourbrain_support.widget_auth import WidgetJWTAuthentication

LIST_PAGE_SIZE = 20
MAX_LIST_PAGE_SIZE = 100
IDEMPOTENCY_HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Refusals caused by the ticket's state answer 409.
CONFLICT_CODES = {"ticket_closed", "reopen_window_passed", "not_solved", "rating_locked"}

SUGGESTION_LIMIT = 5  # matches shown while the customer types

logger = logging.getLogger(__name__)


# --- throttles and limits ------------------------------------------------------------------------


class CountingThrottle(BaseThrottle):
    """A fixed-window request counter per key (django-ratelimit: a cache `add`, then `incr` once it exists).

    DRF's SimpleRateThrottle reads and rewrites the list of every request in its window, so its cost grows
    with the rate allowed (at 600/min from one address, a 600-entry list each way on every request); a
    counter costs the same at any rate. Windows are staggered per key. If the cache cannot be reached (or a
    count cannot be read back) the request is let through, logged: an outage of the limiter must not lock
    customers out.
    """

    scope = ""

    def __init__(self):
        self.seconds_left = 0

    def get_rate(self) -> str:
        raise NotImplementedError

    def get_ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.get_ident(request)
        if ident is None:
            return True
        try:
            usage = get_usage(
                request, group=self.scope, key=lambda _group, _request: ident, rate=self.get_rate(), increment=True
            )
        except (RedisError, OSError):
            logger.warning("widget throttle %s: the cache is unavailable; let through", self.scope, exc_info=True)
            return True
        if usage is None:  # RATELIMIT_ENABLE off, or the count could not be read (RATELIMIT_FAIL_OPEN)
            return True
        # `time_left` counts whole seconds to the window's last second, which still belongs to the window.
        self.seconds_left = max(usage["time_left"] + 1, 1)
        return not usage["should_limit"]

    def wait(self) -> int:
        return self.seconds_left


class WidgetIPThrottle(CountingThrottle):
    """Per client IP (the one the audit log sees), checked before authentication."""

    scope = "widget_ip"

    def get_rate(self) -> str:
        return settings.WIDGET_THROTTLE_IP

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"


class WidgetUserThrottle(CountingThrottle):
    """Per customer, after authentication."""

    scope = "widget_user"

    def get_rate(self) -> str:
        return settings.WIDGET_THROTTLE_USER

    def get_ident(self, request) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return str(request.user.pk)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def _body_limit(request) -> int:
    limit = settings.WIDGET_MAX_BODY_BYTES
    if (request.META.get("CONTENT_TYPE") or "").startswith("multipart/"):
        limit += settings.TICKET_ATTACHMENT_MAX_COUNT * (settings.TICKET_ATTACHMENT_MAX_BYTES + 4096)
    return limit


class WidgetApiView(APIView):
    authentication_classes = [WidgetJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [WidgetUserThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]  # a token API: no browsable HTML pages to negotiate

    def initial(self, request, *args, **kwargs):
        # The IP limit comes first, so a flood of bad tokens is throttled before any token work.
        ip_throttle = WidgetIPThrottle()
        if not ip_throttle.allow_request(request, self):
            self.throttled(request, ip_throttle.wait())
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > _body_limit(request):
            raise RequestTooLarge(f"The request body is larger than {_body_limit(request)} bytes.")
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, ApplicationError) and exc.code in CONFLICT_CODES:
            exc.status = status.HTTP_409_CONFLICT
        return super().handle_exception(exc)


def _ticket(request, reference: str) -> Ticket:
    intake.intake_file_pending_for(user=request.user)  # a ticket accepted moments ago is there to read
    return customer_selectors.ticket_for_customer_or_404(request.user, reference)


# --- output --------------------------------------------------------------------------------------


class WidgetAttachmentOutputSerializer(FlatSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="filename")
    size = serializers.IntegerField()
    content_type = serializers.CharField()


class WidgetAuthorOutputSerializer(FlatSerializer):
    name = serializers.CharField()
    is_staff = serializers.BooleanField()


class WidgetMessageOutputSerializer(FlatSerializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    from_staff = serializers.BooleanField(source="is_from_staff")
    author = serializers.SerializerMethodField()
    attachments = WidgetAttachmentOutputSerializer(many=True, source="attachments.all")

    def get_author(self, message) -> dict:
        # Staff are shown by first name only; a customer sees their own (or a colleague's) name.
        author = message.author
        if author is None:
            return {"name": "TourBrain Support" if message.is_from_staff else "", "is_staff": message.is_from_staff}
        name = author.get_short_name() if message.is_from_staff else author.get_full_name()
        return {"name": name, "is_staff": message.is_from_staff}


class WidgetRatingOutputSerializer(FlatSerializer):
    score = serializers.IntegerField()
    comment = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WidgetTicketSummaryOutputSerializer(FlatSerializer):
    reference = serializers.CharField()
    subject = serializers.CharField()
    type = serializers.CharField()
    priority = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    requester = serializers.SerializerMethodField()
    unread_count = serializers.SerializerMethodField()
    can_rate = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()

    def get_requester(self, ticket) -> str:
        return ticket.user.get_full_name() if ticket.user else ""

    def get_unread_count(self, ticket) -> int:
        return customer_selectors.unread_count(ticket)

    def get_can_rate(self, ticket) -> bool:
        return customer_selectors.can_rate(ticket)

    def get_rating(self, ticket) -> dict | None:
        rating = customer_selectors.ticket_rating(ticket)
        return WidgetRatingOutputSerializer(rating).data if rating else None


class WidgetTicketDetailOutputSerializer(WidgetTicketSummaryOutputSerializer):
    description = serializers.CharField()
    reproduction_steps = serializers.CharField(allow_blank=True)
    browser_info = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    messages = WidgetMessageOutputSerializer(many=True, source="public_messages")


class WidgetTicketCreatedOutputSerializer(FlatSerializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    subject = serializers.CharField()
    created_at = serializers.DateTimeField()
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    first_response_promise = serializers.CharField(help_text='In business terms, e.g. "within 2 business hours".')


def _created_body(ticket: Ticket) -> dict:
    ticket.first_response_promise = customer_selectors.ticket_first_response_promise(ticket)
    return WidgetTicketCreatedOutputSerializer(ticket).data


# --- tickets -------------------------------------------------------------------------------------


def _enum(choices) -> serializers.ChoiceField:
    allowed = ", ".join(value for value, _ in choices)
    return serializers.ChoiceField(
        choices=choices, error_messages={"invalid_choice": f'"{{input}}" is not a valid choice. Allowed: {allowed}.'}
    )


class WidgetTicketCreateInputSerializer(FlatSerializer):
    type = _enum(Ticket.Type.choices)
    priority = _enum(Ticket.Priority.choices)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=50_000)
    reproduction_steps = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")
    browser_info = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)


def _request_digest(data: dict) -> str:
    described = {key: value for key, value in data.items() if key != "attachments"}
    described["attachments"] = [(upload.name, upload.size) for upload in data.get("attachments", [])]
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _idempotency_key(request) -> str | None:
    key = request.META.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        message = f"1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters."
        raise ApplicationError(
            "The Idempotency-Key header is invalid.",
            code="invalid_idempotency_key",
            fields={"Idempotency-Key": [message]},
        )
    return key


def _replay(record, digest: str) -> Response:
    """The first answer to a retry with the same key and request; 422 for the key with another request."""
    if record.request_digest != digest:
        raise ApplicationError(
            "This Idempotency-Key was used for a different request.",
            code="idempotency_key_reused",
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return Response(record.response_body, status=record.response_status)


def _answer_once(request, *, key: str | None, digest: str, work) -> Response:
    """Run `work` (returning the ticket and the 201 body) once per Idempotency-Key: a retry with the same key
    and request gets the first answer, the same key with a different request a 422. Without a key, run it."""
    if key is None:
        _created, body = work()
        return Response(body, status=status.HTTP_201_CREATED)
    with transaction.atomic():
        record, created = customer_services.idempotency_key_claim(user=request.user, key=key, request_digest=digest)
        if not created:
            return _replay(record, digest)
        ticket, body = work()
        body = json.loads(json.dumps(body))  # stored as JSON: the first answer and a retry's are the same
        customer_services.idempotency_key_answer(
            record=record, ticket=ticket, status=status.HTTP_201_CREATED, body=body
        )
    return Response(body, status=status.HTTP_201_CREATED)


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retry with the same key returns the first answer (same status and body), never a second write.",
)


class TicketListCreateApi(WidgetApiView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="WidgetTicketListFilter")
    class FilterSerializer(FlatSerializer):
        scope = serializers.ChoiceField(
            choices=customer_selectors.SCOPES, required=False, default=customer_selectors.SCOPE_MINE
        )
        page = serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIST_PAGE_SIZE)

    @extend_schema_serializer(component_name="WidgetTicketListOutput")
    class ListOutputSerializer(FlatSerializer):
        results = WidgetTicketSummaryOutputSerializer(many=True)
        page = serializers.IntegerField()
        next = serializers.CharField(allow_null=True)
        previous = serializers.CharField(allow_null=True)

    @extend_schema(
        operation_id="widget_tickets_list",
        parameters=[FilterSerializer],
        responses={200: ListOutputSerializer},
        description="The customer's tickets, newest first (scope=organization: the organization's, for its admins).",
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = params.validated_data["page"]
        size = params.validated_data.get("page_size") or LIST_PAGE_SIZE
        intake.intake_file_pending_for(user=request.user)
        queryset = customer_selectors.tickets_for_customer(request.user, params.validated_data["scope"])
        rows = list(queryset[(page - 1) * size : page * size + 1])

        def link(number: int) -> str:
            query = request.query_params.copy()
            query["page"] = str(number)
            return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

        return Response(
            {
                "results": WidgetTicketSummaryOutputSerializer(rows[:size], many=True).data,
                "page": page,
                "next": link(page + 1) if len(rows) > size else None,
                "previous": link(page - 1) if page > 1 else None,
            }
        )

    @extend_schema(
        operation_id="widget_tickets_create",
        request={
            "application/json": WidgetTicketCreateInputSerializer,
            "multipart/form-data": WidgetTicketCreateInputSerializer,
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WidgetTicketCreatedOutputSerializer},
    )
    def post(self, request):
        key = _idempotency_key(request)
        serializer = WidgetTicketCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data["attachments"] and intake.background_filing():
            return self._accept(request, data, key=key)

        def submit() -> tuple[Ticket, dict]:
            ticket = self._submit(request, data)
            return ticket, _created_body(ticket)

        return _answer_once(request, key=key, digest=_request_digest(data), work=submit)

    def _accept(self, request, data: dict, *, key: str | None) -> Response:
        """Accepted now, filed by a worker moments later (`tickets.intake`): the intake, and with a key the key
        and its answer, in one statement. A retry gets the first answer whichever way the first was filed."""
        digest = _request_digest(data)
        prepared = intake.intake_prepare(
            requester=request.user,
            organization=_organization(request),
            channel=Ticket.Channel.WIDGET,
            **_ticket_fields(data),
        )
        # The answer but its reference, which the statement storing the intake takes (and adds to the key's copy).
        body = dict(WidgetTicketCreatedOutputSerializer(prepared).data)
        earlier = intake.intake_accept(prepared, idempotency_key=key, request_digest=digest, answer=body)
        if earlier is None:
            return Response({**body, "reference": prepared.reference}, status=status.HTTP_201_CREATED)
        return _replay(earlier, digest)

    def _submit(self, request, data: dict) -> Ticket:
        return customer_services.ticket_submit(
            requester=request.user,
            organization=_organization(request),
            **_ticket_fields(data),
            channel=Ticket.Channel.WIDGET,
            attachments=data["attachments"],
        )


TICKET_FIELDS = ("type", "priority", "subject", "description", "reproduction_steps", "browser_info", "url")


def _ticket_fields(data: dict) -> dict:
    return {name: data[name] for name in TICKET_FIELDS}


def _organization(request):
    """The organization the token names, else the customer's first."""
    if request.auth.organization is not None:
        return request.auth.organization
    organizations = user_organizations(user=request.user)
    return organizations[0] if organizations else None


class TicketDetailApi(WidgetApiView):
    @extend_schema(operation_id="widget_tickets_retrieve", responses={200: WidgetTicketDetailOutputSerializer})
    def get(self, request, reference: str):
        """The ticket and its public conversation; the customer's unread staff replies become read."""
        ticket = _ticket(request, reference)
        return Response(_detail_body(ticket, viewer=request.user))


def _detail_body(ticket: Ticket, *, viewer) -> dict:
    ticket.public_messages = customer_selectors.ticket_public_messages(ticket)
    ticket.unread_count = 0 if ticket.user_id == viewer.pk else customer_selectors.unread_count(ticket)
    body = WidgetTicketDetailOutputSerializer(ticket).data
    customer_services.ticket_mark_seen(ticket=ticket, user=viewer)
    return body


class TicketMessageCreateApi(WidgetApiView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="WidgetReplyInput")
    class InputSerializer(FlatSerializer):
        body = serializers.CharField(max_length=20_000)
        attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)

    @extend_schema(
        operation_id="widget_tickets_messages_create",
        request={"application/json": InputSerializer, "multipart/form-data": InputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WidgetTicketDetailOutputSerializer},
    )
    def post(self, request, reference: str):
        """Reply (with files); a solved ticket reopens within the reopen window, later it is refused (409).
        With an Idempotency-Key, a retried reply returns the first answer and adds no second message."""
        key = _idempotency_key(request)
        ticket = _ticket(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def reply() -> tuple[Ticket, dict]:
            services.ticket_reply(
                ticket=ticket, author=request.user, body=data["body"], attachments=data["attachments"]
            )
            return ticket, _detail_body(_ticket(request, reference), viewer=request.user)

        # The ticket is part of the request: the same key on another ticket (or for filing) is a reuse.
        digest = _request_digest({"reply_to": ticket.pk, **data})
        return _answer_once(request, key=key, digest=digest, work=reply)


class TicketSatisfactionApi(WidgetApiView):
    @extend_schema_serializer(component_name="WidgetRatingInput")
    class InputSerializer(FlatSerializer):
        score = serializers.IntegerField(min_value=1, max_value=5)
        comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="widget_tickets_satisfaction_create",
        request=InputSerializer,
        responses={200: WidgetRatingOutputSerializer},
    )
    def post(self, request, reference: str):
        """Rate a solved ticket 1-5 (once per solve; changeable for 7 days)."""
        ticket = _ticket(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rating = customer_services.ticket_rate(ticket=ticket, actor=request.user, **serializer.validated_data)
        return Response(WidgetRatingOutputSerializer(rating).data)


class TicketAttachmentApi(WidgetApiView):
    @extend_schema(operation_id="widget_tickets_attachment", responses={(200, "application/octet-stream"): bytes})
    def get(self, request, reference: str, attachment_id: int):
        """Download a file of the public conversation."""
        attachment = customer_selectors.ticket_public_attachment_or_404(_ticket(request, reference), attachment_id)
        response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename)
        response["Content-Type"] = "application/octet-stream"
        return response


# --- NPS -----------------------------------------------------------------------------------------


class WidgetNpsOutputSerializer(FlatSerializer):
    score = serializers.IntegerField()
    comment = serializers.CharField(allow_blank=True)
    answered_at = serializers.DateTimeField()


class NpsApi(WidgetApiView):
    """The NPS survey (0-10 and why) when the customer has one open (emailed, unanswered) or is due one."""

    @extend_schema_serializer(component_name="WidgetNpsInput")
    class InputSerializer(FlatSerializer):
        score = serializers.IntegerField(min_value=0, max_value=10)
        comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="widget_nps_offer",
        responses={
            200: inline_serializer(
                "WidgetNpsOffer", {"offered": serializers.BooleanField(), "question": serializers.CharField()}
            )
        },
    )
    def get(self, request):
        """Whether to ask the survey now, and its question."""
        return Response({"offered": surveys.nps_widget_offer(user=request.user), "question": surveys.NPS_QUESTION})

    @extend_schema(
        operation_id="widget_nps_answer", request=InputSerializer, responses={200: WidgetNpsOutputSerializer}
    )
    def post(self, request):
        """Answer the survey (stored as from the email's link); 409 `no_survey` when there is none to answer."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        survey = surveys.nps_answer_in_widget(user=request.user, **serializer.validated_data)
        return Response(WidgetNpsOutputSerializer(survey).data)


# --- me and suggestions --------------------------------------------------------------------------


class WidgetOrganizationOutputSerializer(FlatSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    plan = serializers.CharField()
    is_admin = serializers.BooleanField()


class WidgetPromiseOutputSerializer(FlatSerializer):
    priority = serializers.CharField()
    first_response_minutes = serializers.IntegerField()
    first_response = serializers.CharField()


class MeApi(WidgetApiView):
    @extend_schema_serializer(component_name="WidgetMeOutput")
    class OutputSerializer(FlatSerializer):
        name = serializers.CharField(allow_blank=True)
        email = serializers.CharField(allow_null=True, help_text="Null when the token carried no email.")
        tier = serializers.CharField()
        organization = WidgetOrganizationOutputSerializer(allow_null=True)
        sla_promise = WidgetPromiseOutputSerializer(many=True)
        beta = serializers.DictField(allow_null=True, help_text="The beta support profile; null when none.")
        status_banner = serializers.ListField(
            child=serializers.DictField(), help_text="Open public incidents (id, title, severity, status) to show."
        )
        maintenance = serializers.ListField(
            child=serializers.DictField(),
            help_text="Maintenance notices of firing alerts (alert, message), e.g. sign-in may be degraded.",
        )

    @extend_schema(operation_id="widget_me", responses={200: OutputSerializer})
    def get(self, request):
        """The customer as the widget shows them: tier, organization and the first-response promise."""
        from tourbrain_support.alerting.selectors import customer_notices
        from tourbrain_support.identities import PLACEHOLDER_EMAIL_DOMAIN
        from tourbrain_support.oncall.selectors import status_banner

        user = request.user
        organizations = user_organizations(user=user)
        tier = user_tier(user=user, organizations=organizations)
        organization = request.auth.organization or (organizations[0] if organizations else None)
        admin_of = customer_selectors.admin_organization_ids(user) if organization else []
        data = {
            "name": user.name,
            "email": None if user.email.endswith("@" + PLACEHOLDER_EMAIL_DOMAIN) else user.email,
            "tier": tier.value,
            "organization": {
                "id": organization.pk,
                "name": organization.name,
                "plan": organization.plan,
                "is_admin": organization.pk in admin_of,
            }
            if organization
            else None,
            "sla_promise": customer_selectors.sla_promises(tier=tier.value),
            "beta": beta_profile_for_user(user, organization=organization),
            "status_banner": status_banner(),
            "maintenance": customer_notices(),
        }
        return Response(self.OutputSerializer(data).data)


class StatusApi(APIView):
    """What the widget shows before anyone is signed in: maintenance notices and open public incidents.

    No token: the notices matter most when sign-in itself is down. Throttled per IP like the other calls.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]

    @extend_schema_serializer(component_name="WidgetStatusOutput")
    class OutputSerializer(FlatSerializer):
        maintenance = serializers.ListField(child=serializers.DictField())
        status_banner = serializers.ListField(child=serializers.DictField())

    def initial(self, request, *args, **kwargs):
        ip_throttle = WidgetIPThrottle()
        if not ip_throttle.allow_request(request, self):
            self.throttled(request, ip_throttle.wait())
        super().initial(request, *args, **kwargs)

    @extend_schema(operation_id="widget_status", auth=[], responses={200: OutputSerializer})
    def get(self, request):
        from tourbrain_support.alerting.selectors import customer_notices
        from tourbrain_support.oncall.selectors import status_banner

        data = {
            "maintenance": customer_notices(),
            "status_banner": status_banner(),
        }
        return Response(self.OutputSerializer(data).data)


class SuggestionsApi(WidgetApiView):
    @extend_schema_serializer(component_name="WidgetSuggestionsFilter")
    class FilterSerializer(FlatSerializer):
        q = serializers.CharField(min_length=2, max_length=200, trim_whitespace=True)

    @extend_schema(
        operation_id="widget_suggestions",
        parameters=[FilterSerializer],
        responses={
            200: inline_serializer(
                "WidgetSuggestions",
                {"results": serializers.ListField(child=serializers.DictField())},
            )
        },
    )
    def get(self, request):
        """Public knowledge-base articles and videos matching what the customer types."""
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        results = kb_suggestions(
            query=params.validated_data["q"], user=request.user, limit=SUGGESTION_LIMIT, source="widget"
        )
        # Absolute links: the widget runs on TourBrain's own origin. The link carries `from` and the signed
        # user (`who`), so an article opened in a new tab still counts for deflection as this person's.
        for item in results:
            item["url"] = request.build_absolute_uri(item["url"])
        return Response({"results": results})
