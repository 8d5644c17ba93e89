"""One size convention on every page: binary IEC units, the same text from Python and the browser's JS."""

import json
import shutil
import subprocess

import pytest
from django.conf import settings

from distribution.byte_sizes import human_size

CASES = {
    0: "0\xa0bytes",
    1: "1\xa0byte",
    1023: "1023\xa0bytes",
    1024: "1.0\xa0KiB",
    1280: "1.3\xa0KiB",  # 1.25: a tie, rounded up in both languages
    1535: "1.5\xa0KiB",
    5 * 1024**2: "5.0\xa0MiB",
    1024**2 - 1: "1.0\xa0MiB",  # not "1024.0 KiB"
    4 * 1024**3: "4.0\xa0GiB",
    64 * 1024**3 + 1: "64.0\xa0GiB",
    1024**4: "1.0\xa0TiB",
    -2048: "-2.0\xa0KiB",
}


@pytest.mark.parametrize(("size", "text"), CASES.items())
def test_it_writes_sizes_in_binary_units(size, text):
    assert human_size(size) == text


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browsers_script_writes_every_size_as_the_pages_do():
    sizes = [
        *CASES,
        *range(0, 5000, 7),
        *(n * 1024**2 + k for n in (1, 3, 1023) for k in (-1, 0, 52428, 52429)),
    ]
    script = (settings.BASE_DIR / "static" / "js" / "byte_sizes.js").read_text()
    program = f"const window = {{}};\n{script}\n" + (
        f"console.log(JSON.stringify({json.dumps(sizes)}.map(window.fanoutSize)));"
    )

    output = subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True).stdout

    assert json.loads(output) == [human_size(size) for size in sizes]
