"""The web page at `/`: choose an image, see its top classes or findings and
the Grad-CAM overlay. One HTML file with its style and script inline, served
with a Content-Security-Policy that allows exactly those two blocks (by
their hashes) and nothing from elsewhere."""

import base64
import hashlib
import html
import importlib.resources
import re


def page(model_name):
    """`(html, headers)` of the page for `model_name`.

    Example:
    ```python
    from densenet_hub.serving.page import page

    text, headers = page("digits")
    assert "<title>densenet_hub: digits</title>" in text
    assert "script-src 'sha256-" in headers["content-security-policy"]
    ```
    """
    template = importlib.resources.files(__package__).joinpath("page.html").read_text("utf-8")
    text = template.replace("{model_name}", html.escape(model_name))
    policy = "; ".join([
        "default-src 'none'",
        "connect-src 'self'",
        "img-src data:",
        f"script-src {_hashes(text, 'script')}",
        f"style-src {_hashes(text, 'style')}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])  # fmt: skip
    return text, {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


def _hashes(text, tag):
    """The CSP sources of the inline `<tag>` blocks of `text`."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode()
        + "'"
        for block in blocks
    )
