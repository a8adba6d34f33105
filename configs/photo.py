"""x2 super-resolution of photographs the literature's way (the `pretrained:photo` model).

  python -m flax_srae.main --config=configs/photo.py --workdir=/tmp/photo

Trains on ../shared/data/sun80 files [0, 70) and evaluates on files [70, 80) as whole images:
low resolution by PIL bicubic downscale of the whole 8-bit photo, PSNR/SSIM on studio-range
luma of the 8-bit-rounded output with a 2-pixel border shaved (the sun80 README's protocol;
bicubic 34.15 dB there). edsr with width 32 and 6 blocks (the PyTorch peer's network), L1,
rotations and flips, Adam with a cosine schedule, 12,000 steps of 32 crops of 24x24 -> 48x48.
Measured (python experiments/run.py OUT sun80_edsr): 22.5 minutes on 2 CPU cores,
36.24 dB / SSIM 0.9468 against bicubic 34.15 / 0.9177 (+2.08 dB), Lanczos 34.63.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'folder'
  config.data_dir = '../shared/data/sun80'
  config.train_split = 'train[:70]'
  config.eval_split = 'train[70:80]'
  config.protocol = 'literature'
  config.degradation = 'bicubic'
  # The peer's network (edsr 32x6) trained longest beat wider and deeper ones in the same CPU
  # time on a validation slice (experiments/README.md).
  config.width = 32
  config.num_blocks = 6
  config.hr_size = 48           # crops of 24x24 low-resolution pixels
  config.batch_size = 32
  config.loss = 'l1'
  config.augment = True
  config.lr_schedule = 'cosine'
  config.warmup_steps = 200
  config.num_train_steps = 12000
  config.eval_every_steps = 2000
  return config
