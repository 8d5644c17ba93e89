"""`manage.py publish`: the release it makes and the progress bar --wait draws."""

import io

from django.core.management import call_command

from distribution.models import Release
from operations.management.commands.publish import progress_line


def test_it_draws_a_bar_of_pieces_hashed():
    assert progress_line("processing", 0, 0) == "processing: waiting for a worker"
    assert progress_line("processing", 15, 30) == (
        "processing [" + "#" * 15 + "." * 15 + "]  50% 15/30 pieces hashed"
    )
    assert progress_line("processing", 30, 30).startswith("processing [" + "#" * 30 + "] 100%")


def test_it_prints_the_url_of_a_release_it_queued(tmp_path, db, django_capture_on_commit_callbacks):
    (tmp_path / "tool.bin").write_bytes(b"x" * 1000)
    out = io.StringIO()

    with django_capture_on_commit_callbacks() as callbacks:
        call_command(
            "publish", str(tmp_path / "tool.bin"), "--product", "atlas", "--version", "3.1", stdout=out
        )

    release = Release.objects.get()
    assert out.getvalue().strip().endswith(f"/releases/{release.pk}/")
    assert release.status == Release.Status.PROCESSING
    assert len(callbacks) == 1
