"""Core staff/customer API: who am I (roles, tier, organizations)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tourbrain_support.roles import user_roles
from tourbrain_support.selectors import user_organizations, user_tier


class OrganizationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    plan = serializers.CharField()
    region = serializers.CharField()


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        is_customer = serializers.BooleanField()
        tier = serializers.CharField()
        organizations = OrganizationOutputSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="The signed-in user, their roles and tier")
    def get(self, request):
        user = request.user
        organizations = user_organizations(user=user)
        roles = sorted(user_roles(user))
        data = {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "roles": roles,
            "is_customer": not roles,
            "tier": user_tier(user=user, organizations=organizations).value,
            "organizations": organizations,
        }
        return Response(self.OutputSerializer(data).data)
