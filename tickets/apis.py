"""Staff ticket API (/api/v1/tickets/...): one APIView per operation, session auth, queue roles only.

Input serializers check shape (unknown enum values name the allowed ones; SLA/due fields are
read-only and refused when sent); services do the work and the audit; selectors scope what each
role may see (a ticket outside the caller's teams is a 404, not a 403, so it does not leak).
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets import page_selectors, search, services
from tickets.forms import ASSIGNEE_ME, ASSIGNEE_NONE, SLA_STATE_CHOICES, STATUS_ANY
from tickets.models import Ticket
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import QUEUE_ROLES, HasRole
from tourbrain_support.tiers import Tier

# Fields the SLA engine owns: a client may read them but never set them.
READ_ONLY_FIELDS = (
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "next_due_at",
    "first_responded_at",
    "sla_state",
    "sla_policy",
    "reference",
    "tier",
    "created_at",
)
API_PAGE_SIZE = 50
MAX_API_PAGE_SIZE = 200
# Conflicts with the ticket's current state answer 409 whatever the service chose.
CONFLICT_CODES = {"stale", "ticket_closed"}


def enum_field(choices, **kwargs) -> serializers.ChoiceField:
    """A ChoiceField whose error names the allowed values."""
    allowed = ", ".join(str(value) for value, _ in choices)
    return serializers.ChoiceField(
        choices=choices,
        error_messages={"invalid_choice": f'"{{input}}" is not a valid choice. Allowed values: {allowed}.'},
        **kwargs,
    )


class RefuseReadOnlyMixin:
    """Refuse SLA/due-time fields outright instead of silently dropping them."""

    def to_internal_value(self, data):
        sent = sorted(set(getattr(data, "keys", dict)()) & set(READ_ONLY_FIELDS))
        if sent:
            raise serializers.ValidationError({name: ["read-only"] for name in sent})
        return super().to_internal_value(data)


def _call_service(function, **kwargs):
    try:
        return function(**kwargs)
    except ApplicationError as error:
        if error.code in CONFLICT_CODES:
            error.status = status.HTTP_409_CONFLICT
        raise


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()


class TimerOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    remaining_business_minutes = serializers.IntegerField(allow_null=True)
    remaining = serializers.CharField(allow_blank=True)


class TicketOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    subject = serializers.CharField()
    type = serializers.CharField()
    priority = serializers.CharField()
    status = serializers.CharField()
    team = serializers.CharField()
    tier = serializers.CharField()
    channel = serializers.CharField()
    version = serializers.IntegerField()
    user = UserOutputSerializer(allow_null=True)
    organization = serializers.CharField(source="organization.name", allow_null=True, default=None)
    assignee = UserOutputSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    first_responded_at = serializers.DateTimeField(allow_null=True)
    next_response_due_at = serializers.DateTimeField(allow_null=True)
    resolution_due_at = serializers.DateTimeField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True)
    sla_state = serializers.CharField()


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    is_internal = serializers.BooleanField()
    author = UserOutputSerializer(allow_null=True)
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    attachments = serializers.SerializerMethodField()

    def get_attachments(self, message) -> list[dict]:
        return [{"name": item.name, "size": item.size} for item in getattr(message, "attachment_list", [])]


class TicketDetailOutputSerializer(TicketOutputSerializer):
    description = serializers.CharField()
    reproduction_steps = serializers.CharField(allow_blank=True)
    browser_info = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    messages = MessageOutputSerializer(many=True, source="conversation")
    timers = TimerOutputSerializer(many=True)


class TicketListApi(APIView):
    permission_classes = [HasRole.of(*QUEUE_ROLES)]

    @extend_schema_serializer(component_name="TicketListFilter")
    class FilterSerializer(serializers.Serializer):
        status = enum_field([(STATUS_ANY, "Any"), *Ticket.Status.choices], required=False)
        team = enum_field(Ticket.Team.choices, required=False)
        tier = enum_field(Tier.choices, required=False)
        priority = enum_field(Ticket.Priority.choices, required=False)
        type = enum_field(Ticket.Type.choices, required=False)
        sla_state = enum_field(SLA_STATE_CHOICES, required=False)
        assignee = serializers.RegexField(
            rf"^({ASSIGNEE_ME}|{ASSIGNEE_NONE}|\d+)$",
            required=False,
            error_messages={"invalid": "Use 'me', 'unassigned' or a user id."},
        )
        q = serializers.CharField(required=False, max_length=search.MAX_TERM_LENGTH, help_text=search.TERM_HELP)
        page = serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_API_PAGE_SIZE)

        def validate_q(self, value: str) -> str:
            if error := search.term_error(value):
                raise serializers.ValidationError(error)
            return value

    @extend_schema_serializer(component_name="TicketListOutput")
    class OutputSerializer(serializers.Serializer):
        results = TicketOutputSerializer(many=True)
        page = serializers.IntegerField()
        next = serializers.CharField(allow_null=True)
        previous = serializers.CharField(allow_null=True)

    @extend_schema(
        operation_id="tickets_list",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer},
        description="Tickets in the caller's queue, sorted by next due time. No total count (cheap paging).",
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        page = data.pop("page", 1)
        page_size = data.pop("page_size", None) or API_PAGE_SIZE
        rows, has_next = page_selectors.queue_page(
            user=request.user, filters=data, offset=(page - 1) * page_size, limit=page_size
        )

        def link(number: int) -> str:
            query = request.query_params.copy()
            query["page"] = str(number)
            return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

        body = {
            "results": TicketOutputSerializer([row.ticket for row in rows], many=True).data,
            "page": page,
            "next": link(page + 1) if has_next else None,
            "previous": link(page - 1) if page > 1 else None,
        }
        return Response(body)


def _ticket_or_404(request, reference: str):
    ticket = page_selectors.ticket_for_page(user=request.user, reference=reference)
    if ticket is None:
        raise Http404
    return ticket


def _detail_body(ticket) -> dict:
    data = page_selectors.ticket_page_data(ticket=ticket)
    ticket.conversation = data["conversation"]
    ticket.timers = data["timers"]
    return TicketDetailOutputSerializer(ticket).data


class TicketDetailApi(APIView):
    permission_classes = [HasRole.of(*QUEUE_ROLES)]

    @extend_schema(operation_id="tickets_retrieve", responses={200: TicketDetailOutputSerializer})
    def get(self, request, reference: str):
        return Response(_detail_body(_ticket_or_404(request, reference)))


class _VersionedInput(RefuseReadOnlyMixin, serializers.Serializer):
    version = serializers.IntegerField(min_value=0, help_text="The ticket version the change is based on.")


class TicketReplyApi(APIView):
    """A public reply; the first one stops the first-response clock."""

    permission_classes = [HasRole.of(*QUEUE_ROLES)]
    internal = False

    @extend_schema_serializer(component_name="TicketReplyInput")
    class InputSerializer(_VersionedInput):
        body = serializers.CharField(max_length=20000)
        attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)

    @extend_schema(request=InputSerializer, responses={201: TicketDetailOutputSerializer})
    def post(self, request, reference: str):
        ticket = _ticket_or_404(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        service = services.ticket_add_note if self.internal else services.ticket_reply
        _call_service(
            service,
            ticket=ticket,
            author=request.user,
            body=data["body"],
            attachments=data["attachments"],
            expected_version=data["version"],
        )
        return Response(_detail_body(_ticket_or_404(request, reference)), status=status.HTTP_201_CREATED)


class TicketNoteApi(TicketReplyApi):
    """An internal note: staff only, never shown to the customer, no SLA effect."""

    internal = True

    @extend_schema(request=TicketReplyApi.InputSerializer, responses={201: TicketDetailOutputSerializer})
    def post(self, request, reference: str):
        return super().post(request, reference)


class TicketAssignApi(APIView):
    permission_classes = [HasRole.of(*QUEUE_ROLES)]

    @extend_schema_serializer(component_name="TicketAssignInput")
    class InputSerializer(_VersionedInput):
        assignee = serializers.IntegerField(allow_null=True, help_text="User id of a queue member; null unassigns.")

    @extend_schema(request=InputSerializer, responses={200: TicketDetailOutputSerializer})
    def post(self, request, reference: str):
        from tickets.forms import staff_assignees

        ticket = _ticket_or_404(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignee = None
        if data["assignee"] is not None:
            assignee = staff_assignees().filter(pk=data["assignee"]).first()
            if assignee is None:
                raise serializers.ValidationError({"assignee": ["No active queue member has this id."]})
        _call_service(
            services.ticket_assign,
            ticket=ticket,
            assignee=assignee,
            actor=request.user,
            expected_version=data["version"],
        )
        return Response(_detail_body(_ticket_or_404(request, reference)))


class TicketStatusApi(APIView):
    permission_classes = [HasRole.of(*QUEUE_ROLES)]

    @extend_schema_serializer(component_name="TicketStatusInput")
    class InputSerializer(_VersionedInput):
        status = enum_field(Ticket.Status.choices)

    @extend_schema(request=InputSerializer, responses={200: TicketDetailOutputSerializer})
    def post(self, request, reference: str):
        ticket = _ticket_or_404(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _call_service(
            services.ticket_set_status,
            ticket=ticket,
            status=data["status"],
            actor=request.user,
            expected_version=data["version"],
        )
        return Response(_detail_body(_ticket_or_404(request, reference)))


class TicketPriorityApi(APIView):
    permission_classes = [HasRole.of(*QUEUE_ROLES)]

    @extend_schema_serializer(component_name="TicketPriorityInput")
    class InputSerializer(_VersionedInput):
        priority = enum_field(Ticket.Priority.choices)

    @extend_schema(request=InputSerializer, responses={200: TicketDetailOutputSerializer})
    def post(self, request, reference: str):
        ticket = _ticket_or_404(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _call_service(
            services.ticket_set_priority,
            ticket=ticket,
            priority=data["priority"],
            actor=request.user,
            expected_version=data["version"],
        )
        return Response(_detail_body(_ticket_or_404(request, reference)))
