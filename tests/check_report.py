"""Open the HTML report in headless Chromium: take a screenshot and check that every figure loads.

    python tests/check_report.py [--report report/index.html] [--screenshot report/screenshot.png]

A copy of the page with a few lines of script is loaded beside the original
(so relative figure paths resolve the same); after the load event the script
writes into the DOM how many images the browser decoded, and Chromium's
--dump-dom hands that back. Exits 1 if any image is broken or none exist.
"""
import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=15000"]
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-broken", JSON.stringify(broken));
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("check_report: error: no Chromium found; install it with `make browser` (Debian package chromium)")


def run(browser, *args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


def image_status(browser, page):
    """(number of images, list of broken srcs) as Chromium saw them."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        dom = run(browser, "--dump-dom", probe.as_uri()).stdout
    finally:
        probe.unlink()
    count = re.search(r'data-images="(\d+)"', dom)
    broken = re.search(r'data-broken="([^"]*)"', dom)
    if not count or not broken:
        sys.exit("check_report: error: the page's load event never ran in Chromium")
    return int(count.group(1)), json.loads(html.unescape(broken.group(1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default=str(ROOT / "report" / "index.html"))
    parser.add_argument("--screenshot", default=None, help="PNG to write (default: beside the report)")
    args = parser.parse_args()
    page = Path(args.report).resolve()
    if not page.is_file():
        sys.exit(f"check_report: error: no report at {page}; build it with `make report`")
    browser = chromium()
    shot = Path(args.screenshot or page.with_name("screenshot.png")).resolve()
    run(browser, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri())
    count, broken = image_status(browser, page)
    print(f"{page}: {count} images, {len(broken)} broken{': ' + ', '.join(broken) if broken else ''}")
    print(f"screenshot: {shot} ({shot.stat().st_size if shot.exists() else 0} bytes)")
    return 0 if count and not broken and shot.exists() else 1


if __name__ == "__main__":
    sys.exit(main())
