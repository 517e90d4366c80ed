"""The TikTok Shop Open API request signature (HMAC-SHA256), and the API versions used."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["ANALYTICS_LIVE", "ANALYTICS_SHOP", "AUTHORIZATION", "EXCLUDED", "sign"]

# The API versions are part of each path; they live here, in one place.
AUTHORIZATION = "202309"
"""``/authorization/{v}/shops``: the shops an authorization covers, with their ciphers."""
ANALYTICS_LIVE = "202509"
"""``/analytics/{v}/shop_lives/performance``: the shop's LIVE sessions performance list."""
ANALYTICS_SHOP = "202405"
"""``/analytics/{v}/shop/performance``: the shop's daily performance."""

EXCLUDED = frozenset({"sign", "access_token"})
"""Query parameters that are never part of the signed string."""


def sign(app_secret: str, path: str, params: Mapping[str, object], body: bytes = b"") -> str:
    """The ``sign`` query parameter of a request, as "Sign your API request" documents it.

    Args:
        app_secret: The app's secret (Partner Center, App & Service).
        path: The request path, e.g. ``/authorization/202309/shops``.
        params: The query parameters (``sign`` and ``access_token`` are left out).
        body: The exact request body bytes (empty for GET; not for multipart/form-data).

    Returns:
        The lowercase hex HMAC-SHA256.
    """
    # 1. Take every query parameter except sign and access_token; order the keys
    #    alphabetically.
    keys = sorted(k for k in params if k not in EXCLUDED)
    # 2. Concatenate them as {key}{value}.
    joined = "".join(f"{k}{params[k]}" for k in keys)
    # 3. Put the request path before them.
    text = path + joined
    # 4. If the content type is not multipart/form-data, append the request body.
    text += body.decode()
    # 5. Wrap the string in the app secret.
    wrapped = app_secret + text + app_secret
    # 6. HMAC-SHA256 of the wrapped string keyed with the app secret, hex encoded.
    return hmac.new(app_secret.encode(), wrapped.encode(), hashlib.sha256).hexdigest()
