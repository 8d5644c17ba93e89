"""Release notes: Markdown written by publishers, rendered to HTML that is safe to show anyone."""

import re

import markdown
import nh3

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}


# The notes sit under the page's "Notes" heading (an h2): the author's headings rank below it.
HEADING_SHIFT = 2
_HEADING = re.compile(r"<(/?)h([1-6])>")


def render_notes(text: str) -> str:
    """Markdown to HTML; whatever HTML the author wrote is cleaned by nh3, scripts and handlers removed.

    The author's ``# Heading`` becomes an h3, and so on down to h6, so the notes
    read as one section of the release's page, not as a page of their own.
    """
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "magnet"},
        link_rel="nofollow noopener noreferrer",
    )
    return _HEADING.sub(lambda m: f"<{m[1]}h{min(6, int(m[2]) + HEADING_SHIFT)}>", cleaned)
