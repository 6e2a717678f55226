"""The product's routes plus `bench/bare-versions/`: a bare DRF list of the same rows, with the same
serializer and pagination but no authentication and no isolation filter: the baseline."""

from django.urls import path
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny

from consortium.urls import urlpatterns as product_urls
from registry.api.serializers import VersionOut
from registry.models import Version


class BareVersionList(ListAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = VersionOut
    queryset = Version.objects.select_related("artifact__organization", "created_by").order_by(
        "-state_changed_at", "-id"
    )


urlpatterns = [path("bench/bare-versions/", BareVersionList.as_view(), name="bench-bare"), *product_urls]
