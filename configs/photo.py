"""x2 super-resolution of photographs the literature's way (the `pretrained:photo` model).

  python -m flax_srae.main --config=configs/photo.py --workdir=/tmp/photo

Trains on ../shared/data/sun80 files [0, 70) and evaluates on files [70, 80) as whole images:
low resolution by PIL bicubic downscale of the whole 8-bit photo, PSNR/SSIM on studio-range
luma of the 8-bit-rounded output with a 2-pixel border shaved (the sun80 README's protocol;
bicubic 34.15 dB there). edsr with width 48 and 8 blocks, L1, rotations and flips, Adam with a
cosine schedule, 5,500 steps of 32 crops of 24x24 -> 48x48: sized to train in under 30
minutes on 2 CPU cores. Measured (python experiments/run.py OUT sun80_edsr, 2026-11-26): 27.8
minutes, 36.15 dB / SSIM 0.9460 against bicubic 34.15 / 0.9177 (+1.99 dB), Lanczos 34.63.
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
  config.width = 48
  config.num_blocks = 8
  config.hr_size = 48           # crops of 24x24 low-resolution pixels
  config.batch_size = 32
  config.loss = 'l1'
  config.augment = True
  config.lr_schedule = 'cosine'
  config.warmup_steps = 200
  config.num_train_steps = 5500
  config.eval_every_steps = 1000
  return config
