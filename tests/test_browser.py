"""The page of `python -m flax_srae.serve` in a real browser: Debian's headless Chromium, driven
by Playwright (`pip install playwright`; its own browser download is not used, so this runs
offline)."""
import os

from PIL import Image
import pytest

import flax_srae
from flax_srae import serve
from conftest import SUN80_DIR

CHROMIUM = '/usr/bin/chromium'
# Headless, and nothing that would reach the network.
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync']

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f'needs Chromium at {CHROMIUM} (apt-get install chromium)'),
    pytest.mark.skipif(not os.path.isdir(SUN80_DIR), reason='needs ../shared/data/sun80'),
]


def test_the_page_upscales_a_photo_and_shows_errors(tmp_path):
  sync_api = pytest.importorskip('playwright.sync_api', reason='needs pip install playwright')
  name = sorted(os.listdir(SUN80_DIR))[-1]  # an eval photo
  photo = tmp_path / 'crop.png'
  with Image.open(os.path.join(SUN80_DIR, name)) as im:
    im.crop((300, 200, 460, 320)).save(photo)
  with serve.serving(flax_srae.load('pretrained:photo'), 'pretrained:photo') as url, \
      sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page()
    failures = []  # the page's script errors and failed requests, none expected before the end
    page.on('pageerror', lambda e: failures.append(str(e)))
    page.on('console', lambda m: failures.append(m.text) if m.type == 'error' else None)
    page.goto(url)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('edsr')")
    page.set_input_files('#file', str(photo))
    # Done, or an error: either ends the wait, and the asserts say which.
    page.wait_for_function("document.getElementById('status').textContent.startsWith('done')"
                           " || !document.getElementById('error').hidden", timeout=60_000)
    assert page.is_hidden('#error'), page.text_content('#error')
    size = page.eval_on_selector('#result', 'img => [img.naturalWidth, img.naturalHeight]')
    assert size == [320, 240]
    assert page.get_attribute('#result', 'data-width') == '320'
    assert page.get_attribute('#download', 'download') == 'crop_x2.png'
    assert page.get_attribute('#download', 'href').startswith('blob:')
    assert '160x120 -> 320x240' in page.text_content('#status')
    assert not failures
    # A file that is no image: the server's one line shows in the page.
    page.set_input_files('#file', __file__)
    page.wait_for_selector('#error', state='visible')
    assert page.text_content('#error').startswith('cannot read image upload')
    browser.close()
