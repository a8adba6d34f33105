"""The page of `python -m flax_srae.serve` in a real browser: Debian's headless Chromium, driven
by Playwright (`pip install playwright`; its own browser download is not used, so this runs
offline), through the functions of experiments/serve_screenshot.py."""
import os
import re
import shutil

from PIL import Image
import pytest

import flax_srae
from flax_srae import serve
from conftest import SUN80_DIR

pytestmark = [
    pytest.mark.slow,  # drives a browser
    pytest.mark.skipif(shutil.which('chromium') is None,
                       reason='needs Chromium on PATH (apt-get install chromium)'),
    pytest.mark.skipif(not os.path.isdir(SUN80_DIR), reason='needs ../shared/data/sun80'),
]


def test_the_page_upscales_a_photo_compares_zooms_and_shows_errors(tmp_path):
  pytest.importorskip('playwright.sync_api', reason='needs pip install playwright')
  from experiments import serve_screenshot as browser  # pylint: disable=g-import-not-at-top
  name = sorted(os.listdir(SUN80_DIR))[-1]  # an eval photo
  photo = tmp_path / 'crop.png'
  with Image.open(os.path.join(SUN80_DIR, name)) as im:
    im.crop((300, 200, 460, 320)).save(photo)
  with serve.serving(flax_srae.load('pretrained:photo'), 'pretrained:photo') as url, \
      browser.sync_playwright() as p:
    chromium, page = browser.open_page(p, url)
    failures = []  # the page's script errors and failed requests, none expected before the end
    page.on('pageerror', lambda e: failures.append(str(e)))
    page.on('console', lambda m: failures.append(m.text) if m.type == 'error' else None)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('edsr')")
    browser.upload(page, str(photo), timeout_ms=60_000)
    assert page.is_hidden('#error'), page.text_content('#error')
    for image in ('#result', '#bicubic'):
      size = page.eval_on_selector(image, 'img => [img.naturalWidth, img.naturalHeight]')
      assert size == [320, 240], image
    assert re.match(r'done — model: \d+\.\d\d s on the server \(\d+\.\d\d s round trip\), '
                    r'160x120 -> 320x240; bicubic: \d+\.\d\d s$', page.text_content('#status'))
    assert page.get_attribute('#download', 'download') == 'crop_x2.png'
    assert page.get_attribute('#download', 'href').startswith('blob:')
    page.click('#zoom-in')
    assert page.text_content('#zoom-level') == '1.5x'
    page.click('#mode-side')
    assert page.get_attribute('#mode-side', 'aria-pressed') == 'true'
    assert page.get_attribute('#mode-compare', 'aria-pressed') == 'false'
    assert not failures
    # A file that is no image: the server's one line shows in the page.
    page.set_input_files('#file', __file__)
    page.wait_for_selector('#error', state='visible')
    assert page.text_content('#error').startswith('cannot read image upload')
    chromium.close()
