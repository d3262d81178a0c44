"""The signed-in user's own consents for the in-app widget: GET/POST /api/v1/me/consents/ (session auth).

The same services as the account privacy page: a POST records one grant or withdrawal (or the acceptance
of the current privacy-policy version, named as the client showed it) and nothing when nothing changes.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import privacy
from audit.models import ConsentRecord

Purpose = ConsentRecord.Purpose


class PolicyOutputSerializer(serializers.Serializer):
    version = serializers.CharField()
    published_at = serializers.DateTimeField()
    url = serializers.CharField(allow_blank=True)
    accepted = serializers.BooleanField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    previously_accepted = serializers.CharField(allow_null=True, help_text="An earlier version accepted instead.")


class ConsentOutputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=privacy.TOGGLE_PURPOSES)
    label = serializers.CharField()
    description = serializers.CharField()
    granted = serializers.BooleanField()
    recorded_at = serializers.DateTimeField(allow_null=True, help_text="When the current choice was recorded.")


@extend_schema_serializer(component_name="MyConsents")
class MyConsentsOutputSerializer(serializers.Serializer):
    policy = PolicyOutputSerializer(allow_null=True, help_text="Null while no policy version is published.")
    consents = ConsentOutputSerializer(many=True)


def _overview_data(user) -> dict:
    overview = privacy.privacy_overview(user=user)
    state = overview.policy
    policy = None
    if state.policy is not None:
        policy = {
            "version": state.policy.version,
            "published_at": state.policy.published_at,
            "url": state.policy.url,
            "accepted": state.accepted,
            "accepted_at": state.accepted_at,
            "previously_accepted": state.previously_accepted,
        }
    consents = [
        {
            "purpose": c.purpose,
            "label": c.label,
            "description": c.description,
            "granted": c.granted,
            "recorded_at": c.recorded_at,
        }
        for c in overview.consents
    ]
    return MyConsentsOutputSerializer({"policy": policy, "consents": consents}).data


class MyConsentsApi(APIView):
    @extend_schema_serializer(
        component_name="MyConsentInput",
        examples=[
            OpenApiExample("Withdraw a consent", value={"purpose": "marketing_email", "granted": False}),
            OpenApiExample(
                "Accept the current privacy policy",
                value={"purpose": "privacy_policy", "granted": True, "policy_version": "2026-01"},
            ),
        ],
    )
    class InputSerializer(serializers.Serializer):
        purpose = serializers.ChoiceField(choices=Purpose.values)
        granted = serializers.BooleanField()
        policy_version = serializers.CharField(
            max_length=40, required=False, help_text="For privacy_policy: the version the person was shown."
        )

        def validate(self, data):
            if data["purpose"] == Purpose.PRIVACY_POLICY:
                if not data["granted"]:
                    raise serializers.ValidationError(
                        {"granted": ["The privacy policy is accepted per version; it cannot be withdrawn here."]}
                    )
                if not data.get("policy_version"):
                    raise serializers.ValidationError({"policy_version": ["Name the version being accepted."]})
            return data

    @extend_schema(
        operation_id="me_consents_retrieve",
        summary="My privacy-policy acceptance and consents",
        responses={200: MyConsentsOutputSerializer},
    )
    def get(self, request):
        return Response(_overview_data(request.user))

    @extend_schema(
        operation_id="me_consents_update",
        summary="Give or withdraw one consent, or accept the current privacy policy",
        description=(
            "Records one grant or withdrawal (source `api`), audited. Answers 201 when a record was written and "
            "200 when the state already was the requested one. A `policy_version` that is no longer current "
            "answers 400 with code `stale_policy_version`."
        ),
        request=InputSerializer,
        responses={200: MyConsentsOutputSerializer, 201: MyConsentsOutputSerializer},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = ConsentRecord.Source.API
        if data["purpose"] == Purpose.PRIVACY_POLICY:
            record = privacy.privacy_policy_accept(
                user=request.user, version=data["policy_version"], source=source, request=request
            )
        else:
            record = privacy.privacy_consent_set(
                user=request.user, purpose=data["purpose"], granted=data["granted"], source=source, request=request
            )
        return Response(_overview_data(request.user), status=status.HTTP_201_CREATED if record else status.HTTP_200_OK)
