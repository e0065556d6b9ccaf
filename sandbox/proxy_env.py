"""The environment that points a sandbox's programs at its egress proxy (both spellings: tools differ)."""

from __future__ import annotations

from sandbox.netns import PROXY_HOST, PROXY_PORT

LOOPBACK_NAMES = "localhost,127.0.0.1,::1"


def proxy_environment() -> dict[str, str]:
    url = f"http://{PROXY_HOST}:{PROXY_PORT}"
    variables = {"HTTP_PROXY": url, "HTTPS_PROXY": url, "ALL_PROXY": url, "NO_PROXY": LOOPBACK_NAMES}
    return variables | {name.lower(): value for name, value in variables.items()}
