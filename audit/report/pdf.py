"""The report as PDF: the HTML page printed by headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120.0


class PdfError(RuntimeError):
    """The PDF could not be made; the message says why and what to install."""


def find_chromium(explicit: str | None = None) -> str:
    """The browser binary: ``explicit`` (a path or name), else the first of CANDIDATES on PATH."""
    for name in (explicit,) if explicit else CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError(
        "a PDF needs headless Chromium: install Debian's chromium package (`make chromium-bin`) "
        "or name the binary with RISKWATCH_CHROMIUM"
    )


def html_to_pdf(html: str, *, chromium: str | None = None, timeout_s: float = TIMEOUT_S) -> bytes:
    """Print ``html`` (a self-contained page: no network is needed) to PDF bytes."""
    binary = find_chromium(chromium)
    with tempfile.TemporaryDirectory(prefix="riskwatch-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [
            binary,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",  # containers run as root without user namespaces
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise PdfError(f"chromium did not print the report within {timeout_s:g}s") from None
        data = out.read_bytes() if out.exists() else b""
        if done.returncode != 0 or not data.startswith(b"%PDF"):
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise PdfError(f"chromium failed to print the report (exit {done.returncode}): {tail}")
        return data
