"""Byte counts as people read them, in binary IEC units (KiB, MiB, GiB…) on every page.

static/js/byte_sizes.js computes the same text in the browser (the publish page's
file list, the statistics charts): both round half up to one decimal, from the
exact integer, so a file shows the same size wherever it is shown.
"""

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
# A no-break space: "4.0 GiB" never wraps between the figure and its unit.
SPACE = "\u00a0"


def human_size(size: int) -> str:
    """``1 byte``, ``1023 bytes``, ``1.0 KiB``, ``1.5 MiB`` (with a no-break space); a negative count
    keeps its sign."""
    if size < 0:
        return "-" + human_size(-size)
    if size < 1024:
        return f"{size}{SPACE}byte{'' if size == 1 else 's'}"
    exponent = 1
    while exponent < len(UNITS) and size >= 1024 ** (exponent + 1):
        exponent += 1
    unit = 1024**exponent
    tenths = (size * 10 + unit // 2) // unit
    if tenths >= 10240 and exponent < len(UNITS):  # 1023.95 MiB and up round to 1.0 GiB, not 1024.0 MiB
        exponent += 1
        unit = 1024**exponent
        tenths = (size * 10 + unit // 2) // unit
    return f"{tenths // 10}.{tenths % 10}{SPACE}{UNITS[exponent - 1]}"
