"""The two ways the shipped photo models make colour, measured alike on sun80 files [70, 80).

  python experiments/colour.py

`pretrained:photo` upscales the luma of a colour photo and takes the chroma bicubically
(`upscale`'s colour path); `pretrained:photo_rgb` puts RGB through the network. Both get the
literature's low resolution (PIL bicubic of the whole 8-bit RGB photo) through
`Upscaler.upscale`; the 8-bit-rounded output is measured on studio-range Y and on RGB, 2-pixel
border shaved (`metrics.whole_image`). Writes the table between the `<!-- table:colour -->`
markers of experiments/README.md.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from experiments import run  # pylint: disable=g-import-not-at-top
import flax_srae  # pylint: disable=g-import-not-at-top
from flax_srae.platform import cpu_speedups  # pylint: disable=g-import-not-at-top
from flax_srae.training import evaluation  # pylint: disable=g-import-not-at-top
from flax_srae.data import input_pipeline  # pylint: disable=g-import-not-at-top
from flax_srae.training import metrics  # pylint: disable=g-import-not-at-top

SUN80 = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')


def main():
  cpu_speedups.configure()
  colour = flax_srae.load('pretrained:photo_rgb')
  config = colour.config.copy_and_resolve_references()
  config.data_dir = SUN80
  pairs = input_pipeline.bicubic_pairs(input_pipeline.split_items(config, 'train[70:80]'), 3)
  upscalers = {'bicubic (of RGB)':
                   lambda low_res: np.asarray(evaluation.baseline(low_res[None]))[0],
               '`pretrained:photo` (Y by the model, chroma bicubic)':
                   flax_srae.load('pretrained:photo').upscale,
               '`pretrained:photo_rgb` (RGB by the model)': colour.upscale}
  lines = ['| colour made by | Y PSNR dB | Y SSIM | RGB PSNR dB | RGB SSIM |', '|' + '---|' * 5]
  for name, upscale in upscalers.items():
    scores = [[metrics.whole_image(upscale(low_res), hr, 2, rgb=rgb) for low_res, hr in pairs]
              for rgb in (False, True)]
    means = [f'{np.mean([s[k] for s in on]):.{4 if k else 2}f}' for on in scores for k in (0, 1)]
    lines.append(f'| {name} | ' + ' | '.join(means) + ' |')
  table = '\n'.join(lines)
  print(table)
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = f.read()
  with open(readme, 'w') as f:
    f.write(run._replace(text, 'colour', table))  # pylint: disable=protected-access


if __name__ == '__main__':
  main()
