"""Progress on stderr: plain lines for a CI log, one bar redrawn in place on a terminal."""

import io

from fanout_client.progress import Progress, human_size


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth_and_notes_between():
    log = io.StringIO()
    progress = Progress("uploading", 1000, log)
    for done in range(0, 1001, 25):
        progress.update(done)
        if done == 500:
            progress.note("a.bin: connection lost; retrying in 0.5 s")
    progress.close()

    lines = log.getvalue().splitlines()
    assert len(lines) == 12
    assert lines[0] == "uploading [..............................]   0% 0 B/1000 B"
    assert lines[6] == "a.bin: connection lost; retrying in 0.5 s"
    assert lines[-1] == "uploading [##############################] 100% 1000 B/1000 B"


def test_a_terminal_gets_one_line_redrawn():
    terminal = Terminal()
    progress = Progress("downloading", 4 * 1024 * 1024, terminal)
    progress.update(1024 * 1024, "3 peers 1.0 MiB/s")
    progress.update(4 * 1024 * 1024)
    progress.close()

    assert terminal.getvalue().count("\n") == 1
    assert terminal.getvalue().startswith(
        "\rdownloading [#######.......................]  25% 1.0 MiB/4.0 MiB"
    )
    assert "\rdownloading [##############################] 100% 4.0 MiB/4.0 MiB" in terminal.getvalue()


def test_sizes_read_as_people_write_them():
    assert [human_size(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]
