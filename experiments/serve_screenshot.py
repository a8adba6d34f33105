"""Makes docs/serve.png: the page of `python -m flax_srae.serve` comparing bicubic with
pretrained:photo on a crop of a sun80 eval photo, zoomed in, the slider in the middle.

  python experiments/serve_screenshot.py [OUTPUT.png]      (default: docs/serve.png)

Needs Playwright (`pip install playwright`) and Debian's Chromium (`apt-get install
chromium`); Playwright's own browser download is not used, so it runs offline. The browser
test (tests/test_browser.py) drives the page with the functions here.
"""
import os
import shutil
import sys
import tempfile

from PIL import Image
from playwright.sync_api import sync_playwright

import flax_srae
from flax_srae import serve

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUN80 = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')
# An eval photo (sun80's last 10 files), cropped to 200x150 around printed text on barrels:
# letters are where the model and bicubic differ most to the eye.
PHOTO = 'warehouse_sun_bggemsvcykyfkkyl.jpg'
CROP = (705, 425, 905, 575)
ZOOM_CLICKS = 2  # 1x -> 1.5x -> 2x, around the crop's centre
CHROMIUM = shutil.which('chromium')
# Headless, and nothing that would reach the network.
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync']


def open_page(playwright, url: str, **options):
  """(browser, page) of Debian's headless Chromium showing `url`."""
  browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
  page = browser.new_page(**options)
  page.goto(url)
  return browser, page


def upload(page, path: str, timeout_ms: int = 120_000) -> None:
  """Chooses the file `path` in the page and waits until it says done, or shows an error."""
  page.eval_on_selector('#status', 'status => { status.textContent = ""; }')  # not done yet
  page.set_input_files('#file', path)
  page.wait_for_function("document.getElementById('status').textContent.startsWith('done')"
                         " || !document.getElementById('error').hidden", timeout=timeout_ms)


def main(output: str):
  assert PHOTO in sorted(os.listdir(SUN80))[-10:], 'not an eval photo'
  with tempfile.TemporaryDirectory() as tmp:
    # The same crop twice: the second upload's time is a user's, the model compiled already
    # for its size.
    photos = [os.path.join(tmp, name) for name in ('warm-up.png', 'warehouse.png')]
    with Image.open(os.path.join(SUN80, PHOTO)) as im:
      for photo in photos:
        im.crop(CROP).save(photo)
    upscaler = flax_srae.load('pretrained:photo')
    with serve.serving(upscaler, 'pretrained:photo') as url, sync_playwright() as p:
      browser, page = open_page(p, url, viewport={'width': 1200, 'height': 800})
      for photo in photos:
        upload(page, photo)
      if page.is_visible('#error'):
        sys.exit(f'error: the page says {page.text_content("#error")}')
      for _ in range(ZOOM_CLICKS):
        page.click('#zoom-in')
      page.mouse.move(0, 0)  # no hover outline in the picture
      page.screenshot(path=output)
      browser.close()
  print(f'wrote {output} ({os.path.getsize(output) // 1000} KB)')


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'docs', 'serve.png'))
