"""A sandbox image with stand-ins for the flexy image's companions, built from the test image when needed.

`companion_server.c` (beside this file) is compiled static here with gcc (the image has no libc) and started
by the image's init, as the flexy image's init.sh starts its services:

* 9681: the web terminal's stand-in: HTTP, and WebSocket (a shell, or an echo at /echo);
* 8765: the same server on another port, for `/flexy/{id}/port/{port}/`;
* 9280: busybox httpd serving a page, in place of CoSpec AI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.docker_engine import DockerEngine, import_image, rootfs_tar

COMPANION_IMAGE = "orchestrator-companions:latest"
SOURCE = Path(__file__).with_name("companion_server.c")
APP_PORT = 8765
DOCS_TITLE = "CoSpec stand-in"
INIT = f"""#!/bin/sh
# The companions of a sandbox, started the way the flexy image's init.sh starts its own.
# The root file system is read-only and the user no root: the page goes on the /tmp tmpfs.
mkdir -p /tmp/docs
echo '<!doctype html><title>{DOCS_TITLE}</title><h1>{DOCS_TITLE}</h1>' > /tmp/docs/index.html
companion-server 9681 &
companion-server {APP_PORT} &
httpd -p 9280 -h /tmp/docs
trap exit TERM
while :; do sleep 3600 & wait; done
"""


def compile_server(folder: Path) -> bytes:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the companion test server: run `make test` (scripts/system-deps.sh)"
    binary = folder / "companion-server"
    result = subprocess.run(
        [gcc, "-static", "-O2", "-o", str(binary), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"compiling {SOURCE.name} failed:\n{result.stderr}"
    return binary.read_bytes()


def build_companion_image(engine: DockerEngine, folder: Path) -> str:
    files = {
        "usr/local/bin/companion-server": (compile_server(folder), 0o755),
        "usr/local/bin/companions-init": (INIT.encode(), 0o755),
    }
    import_image(engine, COMPANION_IMAGE, rootfs_tar(files), ('CMD ["/usr/local/bin/companions-init"]',))
    return COMPANION_IMAGE
