"""The libtorrent session wrapper in this process, with a real peer downloading from it."""

import logging
import os
import time
from pathlib import Path

import pytest

from harness.libtorrent_peers import download, make_torrent
from harness.loopback import free_port
from harness.polling import wait_until
from seeder.session import SeedingSession, SessionStartError, TorrentReport
from tests.seeder.conftest import RELEASE_SIZE

RELEASE_ID = 7


@pytest.fixture
def content(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "content" / "payload.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(RELEASE_SIZE))
    return path, make_torrent(path)


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


def open_session(state_dir: Path, **options) -> SeedingSession:
    return SeedingSession(port=free_port(), upload_limit=0, state_dir=state_dir, **options)


def settled_report(session: SeedingSession) -> TorrentReport:
    """The torrent's report once libtorrent has finished looking at it."""
    reports: list[TorrentReport] = []

    def settled() -> bool:
        session.check_content()
        session.handle_alerts()
        reports[:] = session.reports()
        return bool(reports) and not reports[0].checking

    wait_until(settled, what="the torrent to settle")
    return reports[0]


def hashing_logged(caplog) -> bool:
    return any(record.getMessage().startswith("hashing the content") for record in caplog.records)


def test_it_serves_fresh_content_without_hashing_it(content, state_dir, tmp_path, caplog):
    path, metainfo = content
    caplog.set_level(logging.INFO, logger="seeder.session")
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)

        assert settled_report(session).error == ""
        downloaded = download(metainfo, from_port=session.listen_port, into=tmp_path / "peer")

        assert downloaded.read_bytes() == path.read_bytes()
        assert not hashing_logged(caplog)


def test_it_restarts_from_resume_data_without_hashing(content, state_dir, tmp_path, caplog):
    path, metainfo = content
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        download(metainfo, from_port=session.listen_port, into=tmp_path / "peer")
        wait_until(lambda: session.reports()[0].uploaded_bytes >= RELEASE_SIZE, what="the upload count")
    caplog.set_level(logging.INFO, logger="seeder.session")

    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        report = settled_report(session)

    assert report.error == ""
    # Counted by the first run: only its resume data can have told this one.
    assert report.uploaded_bytes >= RELEASE_SIZE
    assert not hashing_logged(caplog)


def test_it_hashes_content_that_changed_while_it_was_stopped(content, state_dir, caplog):
    path, metainfo = content
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        settled_report(session)
    with path.open("r+b") as file:
        file.write(b"not the published bytes")
    caplog.set_level(logging.INFO, logger="seeder.session")

    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        report = settled_report(session)

    assert report.error.startswith("1 of 49 pieces are missing on disk or do not match the torrent")
    assert hashing_logged(caplog)


def test_it_reports_content_that_changes_while_seeding(content, state_dir):
    path, metainfo = content
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        assert settled_report(session).error == ""

        with path.open("r+b") as file:
            file.seek(RELEASE_SIZE - 10)
            file.write(b"0123456789")
        wait_until(lambda: settled_report(session).error, what="the change to be noticed")

        assert settled_report(session).error == (
            "1 of 49 pieces are missing on disk or do not match the torrent"
        )


def test_it_names_a_missing_file(content, state_dir):
    path, metainfo = content
    path.unlink()
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)

        assert settled_report(session).error == (
            "49 of 49 pieces are missing on disk or do not match the torrent; files not found: payload.bin"
        )


def test_it_forgets_a_removed_torrent_and_its_resume_data(content, state_dir):
    path, metainfo = content
    with open_session(state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        settled_report(session)
        wait_until(lambda: session.handle_alerts() or list(state_dir.glob("*.resume")), what="resume data")

        session.remove(RELEASE_ID)

        assert session.release_ids() == set()
        assert session.reports() == []
    assert not list(state_dir.glob("*.resume"))


def test_it_holds_local_peers_to_the_upload_limit(content, state_dir, tmp_path):
    path, metainfo = content
    limit = 1024 * 1024
    with SeedingSession(port=free_port(), upload_limit=limit, state_dir=state_dir) as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)
        started = time.monotonic()

        download(metainfo, from_port=session.listen_port, into=tmp_path / "peer")

    # Unlimited, loopback carries it in well under a second; the first
    # second's quota may go out at once, so allow for one.
    assert time.monotonic() - started >= RELEASE_SIZE / limit - 1


@pytest.mark.slow
def test_it_serves_with_super_seeding_and_anti_leech_choking(state_dir, tmp_path):
    # A super seed reveals one piece at a time to a lone peer: a few pieces will do.
    path = tmp_path / "content" / "small.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(4 * 64 * 1024))
    metainfo = make_torrent(path)
    with open_session(state_dir, super_seeding=True, seed_choking="anti-leech") as session:
        session.add(release_id=RELEASE_ID, metainfo=metainfo, save_path=path.parent)

        downloaded = download(metainfo, from_port=session.listen_port, into=tmp_path / "peer")

    assert downloaded.read_bytes() == path.read_bytes()


def test_it_refuses_a_state_directory_another_session_holds(state_dir):
    with open_session(state_dir):
        with pytest.raises(SessionStartError, match="another seeder is using"):
            open_session(state_dir)
