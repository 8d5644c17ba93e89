"""SHA256SUMS as the server writes it, read by the command and checked against files on disk."""

import hashlib

import pytest
from fanout_client.checksums import files_that_differ, parse_sha256sums

from distribution import services
from tests.distribution.test_services import incoming


def test_it_reads_what_sha256sum_writes():
    text = f"{'ab' * 32}  atlas-1/a b.bin\n{'CD' * 32} *atlas-1/bin/tool\n\n"

    assert parse_sha256sums(text) == {"atlas-1/a b.bin": "ab" * 32, "atlas-1/bin/tool": "cd" * 32}


@pytest.mark.parametrize(
    "line",
    [
        "abc  short.bin",
        f"{'ab' * 32} one-space-only.bin",
        f"{'zz' * 32}  not-hex.bin",
        f"{'ab' * 32}  /etc/passwd",
        f"{'ab' * 32}  atlas/../../escape",
    ],
)
def test_it_refuses_a_line_it_cannot_trust(line):
    with pytest.raises(ValueError, match="SHA256SUMS line 2"):
        parse_sha256sums(f"{'ab' * 32}  fine.bin\n{line}\n")


def test_it_reads_the_servers_sums_and_finds_the_file_that_differs(client, product, tmp_path):
    release = services.create_release(
        product=product, version="1", files=[incoming("a/x.bin", b"x" * 10), incoming("b.txt", b"y")]
    )
    services.build_release_torrent(release_id=release.pk)
    sums = parse_sha256sums(client.get(f"/releases/{release.pk}/SHA256SUMS").content.decode())
    (tmp_path / "atlas-1" / "a").mkdir(parents=True)
    (tmp_path / "atlas-1" / "a" / "x.bin").write_bytes(b"x" * 10)
    (tmp_path / "atlas-1" / "b.txt").write_bytes(b"y")

    assert sums == {
        "atlas-1/a/x.bin": hashlib.sha256(b"x" * 10).hexdigest(),
        "atlas-1/b.txt": hashlib.sha256(b"y").hexdigest(),
    }
    assert files_that_differ(tmp_path, sums) == []
    (tmp_path / "atlas-1" / "b.txt").write_bytes(b"z")
    (tmp_path / "atlas-1" / "a" / "x.bin").unlink()
    assert files_that_differ(tmp_path, sums) == ["atlas-1/a/x.bin", "atlas-1/b.txt"]
