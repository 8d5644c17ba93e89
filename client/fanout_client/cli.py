"""The `fanout` command line: parse, call, print. What it does lives in the modules it calls.

Results go to stdout (a URL, a path, a table, or JSON with --json); progress
and errors to stderr. Exit status: 0 done, 1 refused or failed (one line on
stderr says why), 2 wrong usage, 128 + the signal's number when stopped by
SIGINT or SIGTERM (run the same command again to resume).
"""

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from fanout_client import __version__
from fanout_client.api import Server, ServerRefused
from fanout_client.checksums import parse_sha256sums
from fanout_client.download import Interrupted, TorrentDownload
from fanout_client.errors import FanoutError
from fanout_client.progress import human_size
from fanout_client.publishing import publish, wait_until_seeded
from fanout_client.references import parse_reference
from fanout_client.release_files import files_from_paths
from fanout_client.upload_urls import default_state_dir

DEFAULT_SEED_SECONDS = 60


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.command(args)
    except FanoutError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fanout: interrupted; run the same command again to resume", file=sys.stderr)
        return 128 + signal.SIGINT


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the Fanout server (default: $FANOUT_URL)")
    common.add_argument("--token", help="an API token (default: $FANOUT_TOKEN)")
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    top = argparse.ArgumentParser(prog="fanout", description="Publish and get Fanout releases.")
    top.add_argument("--version", action="version", version=f"fanout {__version__}")
    commands = top.add_subparsers(required=True, metavar="COMMAND")

    publishing = commands.add_parser(
        "publish", parents=[common], help="upload files as a new release and print its URL"
    )
    publishing.set_defaults(command=run_publish)
    publishing.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to publish")
    publishing.add_argument("--product", required=True, help="product slug or name (created if new)")
    publishing.add_argument("--version", required=True, dest="release_version", help="the release's version")
    publishing.add_argument(
        "--private", action="store_true", help="only signed-in users of the audience see it"
    )
    publishing.add_argument(
        "--audience",
        action="append",
        default=[],
        metavar="GROUP",
        help="a group that may see it (repeatable)",
    )
    publishing.add_argument("--notes", default="", help="release notes (Markdown)")
    publishing.add_argument("--tags", action="append", default=[], metavar="TAG", help="a tag (repeatable)")
    publishing.add_argument(
        "--format", choices=["v1", "hybrid", "v2"], help="torrent format (server default)"
    )
    publishing.add_argument("--wait", action="store_true", help="return once it is published and seeded")
    publishing.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most")

    getting = commands.add_parser(
        "get", parents=[common], help="download a release over BitTorrent and verify every file"
    )
    getting.set_defaults(command=run_get)
    getting.add_argument("release", metavar="URL|MAGNET", help="a release page's URL, a magnet link or an id")
    getting.add_argument("--dest", type=Path, default=Path("."), help="folder to download into (default: .)")
    getting.add_argument(
        "--seed-for",
        type=float,
        default=DEFAULT_SEED_SECONDS,
        metavar="SECONDS",
        help=f"seed this long once verified, for other peers (default {DEFAULT_SEED_SECONDS}; 0: no)",
    )

    listing = commands.add_parser("ls", parents=[common], help="list the releases this token may see")
    listing.set_defaults(command=run_ls)
    listing.add_argument("query", nargs="?", default="", help="search words")
    return top


def server_for(
    args: argparse.Namespace, *, found_in: str | None = None, token_needed: bool = False
) -> Server:
    base_url = args.url or os.environ.get("FANOUT_URL") or found_in
    if not base_url:
        raise FanoutError("Which Fanout server? Set FANOUT_URL (or --url).")
    token = args.token or os.environ.get("FANOUT_TOKEN") or None
    if token_needed and not token:
        raise FanoutError("This needs an API token: set FANOUT_TOKEN (or --token).")
    return Server(base_url, token)


def run_publish(args: argparse.Namespace) -> int:
    if args.audience and not args.private:
        raise FanoutError("--audience is for a --private release.")
    files = files_from_paths(args.paths)
    server = server_for(args, token_needed=True)
    declaration: dict[str, Any] = {
        "product": args.product,
        "version": args.release_version,
        "visibility": "private" if args.private else "public",
        "audience": args.audience,
        "notes": args.notes,
        "tags": args.tags,
    }
    if args.format:
        declaration["torrent_format"] = args.format
    published = publish(server=server, files=files, declaration=declaration, state_dir=default_state_dir())
    release = published.release
    if not args.json:
        print(release["url"], flush=True)
    if args.wait:
        release = {**release, **wait_until_seeded(server, release["id"], timeout=args.timeout)}
    if args.json:
        upload = {"sent_bytes": published.sent_bytes, "resumed_bytes": published.resumed_bytes}
        print(json.dumps({**release, "upload": upload}, indent=2))
    return 0


def run_get(args: argparse.Namespace) -> int:
    reference = parse_reference(args.release)
    server = server_for(args, found_in=reference.server)
    release_id = reference.release_id
    if release_id is None:
        found = server.get_json("api/releases/", info_hash=reference.info_hash)["results"]
        if not found:
            raise FanoutError(f"No release with info-hash {reference.info_hash} that this token may see.")
        release_id = found[0]["id"]
    release = _visible_release(server, release_id)
    if release["status"] != "published":
        raise FanoutError(f"Release {release_id} is {release['status']}, not published.")
    metainfo = server.get_bytes(f"releases/{release_id}/torrent")
    try:
        sums = parse_sha256sums(server.get_bytes(f"releases/{release_id}/SHA256SUMS").decode())
    except ValueError as exc:
        raise FanoutError(str(exc)) from None

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum, _frame) -> None:
        stopped_by.append(signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    download = TorrentDownload(metainfo, args.dest, stop=stop)
    try:
        if download.info_hash not in (release.get("info_hash_v1"), release.get("info_hash_v2")):
            raise FanoutError(f"The .torrent of release {release_id} is not the one the API names.")
        download.fetch(sums)
        # Verified: a stop from here on ends the seeding, not the command's success.
        download.seed(args.seed_for)
    except Interrupted:
        print(f"fanout: stopped; the next `fanout get` into {args.dest} resumes", file=sys.stderr)
        return 128 + stopped_by[0]
    finally:
        download.close()
    report = download.report
    if args.json:
        result = {
            "release": {key: release.get(key) for key in ("id", "product", "version", "url")},
            "info_hash": report.info_hash,
            "path": str(report.content),
            "files": [{"path": path, "sha256": digest, "verified": True} for path, digest in sums.items()],
            "resumed_bytes": report.resumed_bytes,
            "downloaded_bytes": report.downloaded_bytes,
            "uploaded_bytes": report.uploaded_bytes,
            "repaired": report.repaired,
        }
        print(json.dumps(result, indent=2))
    else:
        print(report.content)
    return 0


def _visible_release(server: Server, release_id: int) -> dict[str, Any]:
    try:
        return server.get_json(f"api/releases/{release_id}/")
    except ServerRefused as exc:
        if exc.status == 404:
            raise FanoutError(f"Release {release_id} does not exist, or this token may not see it.") from None
        raise


def run_ls(args: argparse.Namespace) -> int:
    server = server_for(args)
    releases: list[dict[str, Any]] = []
    page: str | None = "api/releases/"
    params = {"q": args.query, "page_size": "100"} if args.query else {"page_size": "100"}
    while page:
        answer = server.get_json(page, **params)
        releases.extend(answer["results"])
        page, params = answer.get("next"), {}
    if args.json:
        print(json.dumps(releases, indent=2))
        return 0
    rows = [("PRODUCT", "VERSION", "SIZE", "VISIBILITY", "URL")] + [
        (
            release["product"]["slug"],
            release["version"],
            human_size(release.get("size") or 0),
            release["visibility"],
            release["url"],
        )
        for release in releases
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    return 0
