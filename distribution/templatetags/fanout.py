"""Template filters of Fanout's pages."""

from django import template
from django.utils.safestring import SafeString, mark_safe

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
