"""Is the Hugging Face Hub reachable? If not, work offline at once instead of waiting on retries.

Without a network, transformers and datasets retry a Hub id for about 50 s before failing. One TCP
connect (a few seconds at most) answers the question first; when it fails, ``HF_HUB_OFFLINE``
semantics are switched on so that loaders read the local cache only and fail fast.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0
_TRUE = ("1", "true", "yes", "on")


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_requested() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


@functools.cache
def hub_reachable() -> bool:
    """False under ``HF_HUB_OFFLINE=1`` or when a TCP connection to the Hub endpoint fails (checked once)."""
    if offline_requested():
        return False
    url = urlparse(endpoint())
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def go_offline_if_unreachable() -> bool:
    """Switch the Hub libraries (already imported or not) to offline mode when the Hub cannot be reached.

    Returns whether the Hub is reachable.
    """
    if hub_reachable():
        return True
    os.environ["HF_HUB_OFFLINE"] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE")):
        if module in sys.modules:
            setattr(sys.modules[module], attr, True)
    return False
