"""Makes docs/serve.png: the page of `python -m flax_srae.serve` comparing bicubic with
pretrained:photo on a crop of a sun80 eval photo, zoomed in, the slider in the middle.

  python experiments/serve_screenshot.py [OUTPUT.png]      (default: docs/serve.png)

Needs Playwright (`pip install playwright`) and Chromium at /usr/bin/chromium (`apt-get install
chromium`); Playwright's own browser download is not used, so it runs offline.
"""
import os
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
CHROMIUM = '/usr/bin/chromium'  # launched as tests/test_browser.py does: offline, headless
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync']


def main(output: str):
  assert PHOTO in sorted(os.listdir(SUN80))[-10:], 'not an eval photo'
  with tempfile.TemporaryDirectory() as tmp:
    photo = os.path.join(tmp, 'warehouse.png')
    with Image.open(os.path.join(SUN80, PHOTO)) as im:
      im.crop(CROP).save(photo)
    with serve.serving(flax_srae.load('pretrained:photo'), 'pretrained:photo') as url, \
        sync_playwright() as p:
      browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
      page = browser.new_page(viewport={'width': 1200, 'height': 800})
      page.goto(url)
      page.set_input_files('#file', photo)
      page.wait_for_function("document.getElementById('status').textContent.startsWith('done')"
                             " || !document.getElementById('error').hidden", timeout=120_000)
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
