"""What `fanout get` prints about trackers and web seeds keeps passkeys out of CI logs."""

import pytest
from fanout_client.download import without_passkeys


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            '9edec5 (http://fanout:6969/announce/0123abcd)[10.0.0.5:6881-v1] timed out "" (1)',
            '9edec5 (http://fanout:6969/announce/<passkey>)[10.0.0.5:6881-v1] timed out "" (1)',
        ),
        ("http://fanout/scrape/0123abcd", "http://fanout/scrape/<passkey>"),
        (
            "http://fanout/releases/3/webseed/0123abcd/atlas/a.bin: 404",
            "http://fanout/releases/3/webseed/<passkey>/atlas/a.bin: 404",
        ),
        ("http://fanout:6969/announce timed out", "http://fanout:6969/announce timed out"),
    ],
)
def test_it_hides_the_passkey_of_a_url(said, shown):
    assert without_passkeys(said) == shown
