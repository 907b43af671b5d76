"""HTML mail made safe to show inside a desk page (nh3, the Rust ammonia sanitiser).

What is kept: text markup, tables, lists, links (http, https, mailto only; rel=noopener
noreferrer nofollow) and images only as inline data: URLs. What goes: scripts, styles (the
<style> element, style attributes: CSS can load remote content), event handlers, forms,
frames, SVG and MathML, and every src, srcset or background that names anything else: a
remote image is a read receipt for the sender. The page's Content-Security-Policy (img-src
'self' data:, no inline script or style) would stop all of it again.
"""

from __future__ import annotations

import nh3

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol",
    "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "*": {"title", "lang", "dir"},
}
NOT_LOADED = "[image not loaded]"


def _keep(element: str, attribute: str, value: str) -> str | None:
    if attribute == "src":
        # only an image carried inside the mail itself, as a data: URL of an image type
        return value if element == "img" and value.lower().startswith("data:image/") else None
    return value


def clean(html: str) -> str:
    """The mail's HTML with nothing that runs or loads from elsewhere."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_keep,
        strip_comments=True,
    )
