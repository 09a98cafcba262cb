"""Render allure results (pytest --alluredir) with the allure command line, if installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.core.errors import HarnessError

INSTALL_HINT = ("install the allure command line: `npm install -g allure-commandline` "
                "(needs Java 8+: `apt-get install -y default-jre-headless`)")


def render(results_dir: str, output: str | None = None, timeout: float = 300) -> Path:
    """`allure generate --single-file`: one index.html that opens offline."""
    src = Path(results_dir)
    if not src.is_dir() or not any(src.glob("*-result.json")):
        raise HarnessError(f"{src} holds no allure results (run pytest with --alluredir {src})")
    exe = shutil.which("allure")
    if exe is None:
        raise HarnessError(f"no `allure` command on PATH; {INSTALL_HINT}")
    out = Path(output) if output else src.with_name(src.name + "-html")
    try:
        r = subprocess.run([exe, "generate", "--single-file", "--clean", "-o", str(out), str(src)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"allure generate did not finish within {timeout:.0f}s") from None
    page = out / "index.html"
    if r.returncode != 0 or not page.exists():
        raise HarnessError(f"allure generate failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-500:]}")
    return page
