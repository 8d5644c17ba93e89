"""`manage.py publish PATH... --product SLUG --version V [--private [--audience GROUP]...] [--tag T]...
[--wait]`."""

import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from distribution import services
from distribution.models import Release
from seeder.selectors import release_is_seeded

POLL_SECONDS = 0.5
BAR_WIDTH = 30


def progress_line(status: str, done: int, total: int) -> str:
    """``processing [#########.....]  45% 700/1550 pieces hashed``."""
    if not total:
        return f"{status}: waiting for a worker"
    filled = BAR_WIDTH * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"{status} [{bar}] {100 * done // total:3d}% {done}/{total} pieces hashed"


class Command(BaseCommand):
    help = "Publish local files as a new release and print its URL."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The contract names the option --version, which Django's base parser
        # already takes for its own version: let ours replace it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to publish")
        parser.add_argument("--product", required=True, help="product slug (created if it does not exist)")
        parser.add_argument("--version", required=True, dest="release_version", help="the release's version")
        parser.add_argument("--notes", default="", help="release notes")
        parser.add_argument(
            "--tag", action="append", default=[], dest="tags", metavar="T", help="a tag (repeat for several)"
        )
        parser.add_argument(
            "--private",
            action="store_true",
            help="only signed-in users (of the --audience groups) may see it",
        )
        parser.add_argument(
            "--audience",
            action="append",
            default=[],
            metavar="GROUP",
            help="a group that may see the private release (repeat for several); none: every signed-in user",
        )
        parser.add_argument("--format", choices=[c for c, _ in Release.TorrentFormat.choices], default=None)
        parser.add_argument("--wait", action="store_true", help="return once it is published and seeded")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most")

    def handle(self, *args, **options):
        audience = list(Group.objects.filter(name__in=options["audience"]))
        unknown = set(options["audience"]) - {group.name for group in audience}
        if unknown:
            raise CommandError(f"No such group: {', '.join(sorted(unknown))}.")
        try:
            product = services.product_named(options["product"])
            release = services.create_release(
                product=product,
                version=options["release_version"],
                files=services.incoming_files_from_paths(options["paths"]),
                notes=options["notes"],
                visibility=Release.Visibility.PRIVATE if options["private"] else Release.Visibility.PUBLIC,
                audience=audience,
                tags=options["tags"],
                torrent_format=options["format"],
            )
        except services.ReleaseRejected as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(settings.FANOUT_PUBLIC_URL + release.get_absolute_url())
        if options["wait"]:
            self._wait(release, options["timeout"])

    def _wait(self, release: Release, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            release.refresh_from_db()
            if release.status == Release.Status.FAILED:
                raise CommandError(f"The torrent build failed: {release.failure_reason}")
            if release.status == Release.Status.PUBLISHED and release_is_seeded(release.pk):
                if sys.stderr.isatty():
                    self.stderr.write("")
                self.stderr.write("published and seeding")
                return
            if release.status == Release.Status.PUBLISHED:
                line = "published; waiting for a seeder"
            else:
                line = progress_line(release.status, release.build_pieces_done, release.build_pieces_total)
            if sys.stderr.isatty():
                self.stderr.write(f"\r{line:<{len(shown)}}", ending="")
            elif line != shown:
                self.stderr.write(line)
            shown = line
            time.sleep(POLL_SECONDS)
        raise CommandError(f"Gave up after {timeout:.0f} s: the release is {release.status}.")
