"""The review page of ``nlpguard serve`` (``GET /``): ``resources/review.html`` and the headers it is sent with.

The page is one file with its style and script inline and no external assets, so it works
offline. It is sent with a Content-Security-Policy that lets only that inline script and
style run (by their SHA-256) and lets the page talk only to the server it came from: even a
text that slipped past the page's escaping could not run a script or an event handler.
"""
from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from ..text.resources import RESOURCES

PAGE = RESOURCES / "review.html"


def _digest(html: str, tag: str) -> str:
    """The CSP source (``'sha256-…'``) of the one inline ``<tag>`` element of ``html``."""
    (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"


@lru_cache(maxsize=1)
def review_page() -> tuple[str, dict[str, str]]:
    """The page's HTML and its response headers: the CSP above, no framing, no referrer, no caching."""
    html = PAGE.read_text(encoding="utf-8")
    policy = ["default-src 'none'", f"script-src {_digest(html, 'script')}", f"style-src {_digest(html, 'style')}",
              "connect-src 'self'", "img-src data:", "form-action 'none'", "frame-ancestors 'none'", "base-uri 'none'"]
    return html, {"Content-Security-Policy": "; ".join(policy), "X-Content-Type-Options": "nosniff",
                  "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
