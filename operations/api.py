"""What the API says about a release's seeding: the origin's side, which the distribution app cannot see."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from distribution.selectors import releases_to_look_up
from seeder.selectors import release_is_seeded


class SeedingSerializer(serializers.Serializer):
    release_id = serializers.IntegerField()
    seeded = serializers.BooleanField(
        help_text="A live seeder node has every byte and serves it: a client started now finds a peer."
    )


@extend_schema(responses=SeedingSerializer)
@api_view(["GET"])
def release_seeding(request: Request, release_id: int) -> Response:
    """Whether our seeders serve the release (what `publish --wait` waits for)."""
    release = get_object_or_404(releases_to_look_up(request.user), pk=release_id)
    seeding = {"release_id": release.pk, "seeded": release_is_seeded(release.pk)}
    return Response(SeedingSerializer(seeding).data)
