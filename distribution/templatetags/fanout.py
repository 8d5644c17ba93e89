"""Template filters of Fanout's pages."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from distribution.byte_sizes import human_size
from distribution.release_notes import render_notes

register = template.Library()


@register.filter
def notes_html(text: str) -> SafeString:
    return mark_safe(render_notes(text))  # cleaned by nh3 in render_notes


@register.filter
def ratio(numerator: int, denominator: int) -> str:
    if not denominator:
        return "—"
    return f"{numerator / denominator:.1f}×"


@register.filter(name="human_size")
def human_size_filter(size: int | None) -> str:
    """Bytes in KiB, MiB, GiB…: the one unit convention of every page (and of static/js/byte_sizes.js)."""
    return human_size(int(size or 0))
