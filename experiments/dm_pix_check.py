"""Can dm_pix replace flax_srae's hand-written PSNR, SSIM and depth_to_space?

  pip install --no-deps --target /tmp/dmpix dm-pix chex toolz   # beside the project's JAX
  PYTHONPATH=/tmp/dmpix python experiments/dm_pix_check.py [--quick] [--no-speed]

dm_pix is not a dependency of the project: this script is how the decision not to take it
was measured (experiments/README.md, "dm_pix").

Prints (a) max abs differences ours vs dm_pix on random data, MNIST eval [8000, 10000) and
Sun-80 eval files [70, 80), (b) interleaved timings of jitted versions (median, min-max).
"""
import os
import sys
import time

import numpy as np
import jax
import jax.numpy as jnp
import dm_pix as pix

from flax_srae.data import image_ops, input_pipeline
from flax_srae.training import metrics
from flax_srae import models

QUICK = '--quick' in sys.argv
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, '..', 'shared', 'data', 'mnist')
SUN_DIR = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')
SSIM_KW = dict(max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03)


def pix_ssim(a, b):
  return pix.ssim(a, b, **SSIM_KW)


def row(name, *cols):
  print(f'  {name:<58s}' + '  '.join(f'{c:>14}' for c in cols))


def fmt(x):
  return f'{x:.3e}'


# ----------------------------------------------------------------------------- data
def mnist_eval():
  imgs = input_pipeline._read_idx(os.path.join(MNIST_DIR, 't10k-images-idx3-ubyte.gz'))
  hr = image_ops.to_float(imgs[8000:10000])                     # (2000, 28, 28, 1) float32
  low_res = image_ops.degrade(hr, 'area')                             # 14x14 area average
  sr = jnp.clip(image_ops.resize2x(low_res, 'cubic'), 0.0, 1.0)       # bicubic x2, clipped
  return np.asarray(sr), np.asarray(hr)


def sun80_eval(shave=2):
  """Literature protocol inputs as `metrics.whole_image` builds them: (sr, hr) HW1 studio luma,
  sr = bicubic x2 of the PIL bicubic low resolution, rounded to 8 bits, border shaved."""
  files = sorted(f for f in os.listdir(SUN_DIR) if f.lower().endswith(('.jpg', '.png')))[70:80]
  pairs = input_pipeline.bicubic_pairs([os.path.join(SUN_DIR, f) for f in files], channels=1)
  out = []
  for low_res, hr in pairs:
    sr = np.asarray(image_ops.resize2x(jnp.asarray(low_res[None]), 'cubic')[0])
    out.append((sr, hr))
  return files, out


def literature_inputs(sr, hr, shave=2):
  """What whole_image compares (1 channel case): rounded sr, shaved."""
  sr = image_ops.round_to_8_bits(np.asarray(sr))
  return sr[shave:-shave, shave:-shave], hr[shave:-shave, shave:-shave]


# ----------------------------------------------------------------------------- 1. PSNR
def psnr_ref64(a, b):
  mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=(1, 2, 3))
  return 10 * np.log10(1.0 / np.maximum(mse, 1e-10))


def check_psnr(mnist, sun):
  print('\n== 1. PSNR: max |ours - dm_pix| (dB); both float32 unless said; ref = numpy float64')
  row('case', 'ours-pix', 'ours-ref64', 'pix-ref64')
  ours_j, pix_j = jax.jit(metrics.psnr), jax.jit(pix.psnr)
  rng = np.random.default_rng(0)
  worst = 0.0
  for shape, noise in [((256, 28, 28, 1), None), ((16, 64, 64, 3), None),
                       ((256, 28, 28, 1), 1e-2), ((256, 28, 28, 1), 1e-4), ((4, 512, 512, 1), 1e-3)]:
    for trial in range(3):
      b = rng.random(shape, np.float32)
      a = rng.random(shape, np.float32) if noise is None else \
          np.clip(b + noise * rng.standard_normal(shape).astype(np.float32), 0, 1)
      o, p, r = np.asarray(ours_j(a, b)), np.asarray(pix_j(a, b)), psnr_ref64(a, b)
      d = np.abs(o - p).max()
      worst = max(worst, d)
      if trial == 0:
        row(f'random {shape} ' + ('uniform' if noise is None else f'noise {noise:g}') + ' x3',
            fmt(d), fmt(np.abs(o - r).max()), fmt(np.abs(p - r).max()))
  # identical images: ours floors MSE at 1e-10 (100 dB), dm_pix has no floor
  z = np.zeros((2, 28, 28, 1), np.float32)
  print(f'  identical images: ours {np.asarray(ours_j(z, z))}, dm_pix {np.asarray(pix_j(z, z))}')
  # integer input: dm_pix asserts float
  try:
    pix.psnr(np.zeros((1, 4, 4, 1), np.uint8), np.zeros((1, 4, 4, 1), np.uint8))
    print('  uint8 input: dm_pix accepts')
  except Exception as e:  # pylint: disable=broad-except
    print(f'  uint8 input: dm_pix refuses ({type(e).__name__})')

  sr, hr = mnist
  o, p, r = np.asarray(ours_j(sr, hr)), np.asarray(pix_j(sr, hr)), psnr_ref64(sr, hr)
  row('MNIST eval 2000 bicubic(area 14x14) per image', fmt(np.abs(o - p).max()),
      fmt(np.abs(o - r).max()), fmt(np.abs(p - r).max()))
  row('MNIST eval mean', fmt(abs(o.mean() - p.mean())), fmt(abs(o.mean() - r.mean())),
      fmt(abs(p.mean() - r.mean())))
  print(f'  MNIST mean PSNR: ours {o.mean():.6f}  dm_pix {p.mean():.6f}  ref64 {r.mean():.6f} dB'
        ' (README: bicubic 20.20)')
  worst = max(worst, np.abs(o - p).max())

  # Sun-80 literature protocol: whole_image (float64 numpy) vs dm_pix float32 and float64
  files, pairs = sun
  d32, d64, vals = [], [], []
  for sr_i, hr_i in pairs:
    ours_val, _ = metrics.whole_image(sr_i, hr_i, shave=2, with_ssim=False)
    a, b = literature_inputs(sr_i, hr_i)
    p32 = float(pix_j(a[None].astype(np.float32), b[None].astype(np.float32))[0])
    with jax.enable_x64(True):
      p64 = float(pix.psnr(jnp.asarray(a[None], jnp.float64), jnp.asarray(b[None], jnp.float64))[0])
    d32.append(abs(ours_val - p32))
    d64.append(abs(ours_val - p64))
    vals.append((ours_val, p32, p64))
  vals = np.array(vals)
  row('Sun-80 eval 10 whole_image(f64) vs dm_pix float32', fmt(max(d32)))
  row('Sun-80 eval 10 whole_image(f64) vs dm_pix float64 (x64)', fmt(max(d64)))
  print(f'  Sun-80 mean: whole_image {vals[:, 0].mean():.6f}, dm_pix f32 {vals[:, 1].mean():.6f},'
        f' dm_pix f64 {vals[:, 2].mean():.6f} dB (README: bicubic 34.16)')
  return worst


# ----------------------------------------------------------------------------- 2. SSIM
def ssim_ours_formula_f64(a, b):
  """Our SSIM formula (no clamps) in float64 with an exact float64 window: the reference."""
  g = np.exp(-(np.arange(11) - 5.0) ** 2 / (2 * 1.5 ** 2))
  g /= g.sum()
  with jax.enable_x64(True):
    def blur(x):
      n, h, w, c = x.shape
      y = x.transpose(0, 3, 1, 2).reshape(n * c, 1, h, w)
      dn = ('NCHW', 'OIHW', 'NCHW')
      for k in (jnp.asarray(g).reshape(1, 1, -1, 1), jnp.asarray(g).reshape(1, 1, 1, -1)):
        y = jax.lax.conv_general_dilated(y, k, (1, 1), 'VALID', dimension_numbers=dn)
      return y
    a, b = jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64)
    mx, my = blur(a), blur(b)
    vx, vy, cv = blur(a * a) - mx ** 2, blur(b * b) - my ** 2, blur(a * b) - mx * my
    c1, c2 = 1e-4, 9e-4
    s = ((2 * mx * my + c1) * (2 * cv + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    f64 = np.asarray(jnp.mean(s.reshape(a.shape[0], -1), axis=1))
    p64 = np.asarray(pix.ssim(a, b, **SSIM_KW))  # dm_pix itself in float64
  return f64, p64


def check_ssim(mnist, sun):
  print('\n== 2. SSIM: max |ours - dm_pix| (11x11 Gaussian sigma 1.5, K1 .01, K2 .03, valid)')
  row('case', 'ours-pix', 'ours-skimage', 'pix-skimage')
  ours_j, pix_j = jax.jit(metrics.ssim), jax.jit(pix_ssim)
  try:
    from skimage.metrics import structural_similarity
    def sk(a, b):  # float64, per image, channel average; matches ours per its docstring
      out = []
      for x, y in zip(np.asarray(a, np.float64), np.asarray(b, np.float64)):
        out.append(structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0,
                                         channel_axis=-1))
      return np.array(out)
  except ImportError:
    sk = None
  rng = np.random.default_rng(1)
  worst = 0.0
  for shape, noise in [((64, 28, 28, 1), None), ((8, 64, 64, 3), None),
                       ((64, 28, 28, 1), 1e-2), ((64, 28, 28, 1), 1e-4)]:
    b = rng.random(shape, np.float32)
    a = rng.random(shape, np.float32) if noise is None else \
        np.clip(b + noise * rng.standard_normal(shape).astype(np.float32), 0, 1)
    o, p = np.asarray(ours_j(a, b)), np.asarray(pix_j(a, b))
    s = sk(a, b) if sk else np.full_like(o, np.nan)
    worst = max(worst, np.abs(o - p).max())
    row(f'random {shape} ' + ('uniform' if noise is None else f'noise {noise:g}'),
        fmt(np.abs(o - p).max()), fmt(np.abs(o - s).max()), fmt(np.abs(p - s).max()))
  # flat images (all-constant): where dm_pix's variance clip / covariance clamp can act
  flat = np.full((4, 28, 28, 1), 0.3, np.float32)
  flat2 = flat + np.float32(1e-3)
  o, p = np.asarray(ours_j(flat, flat2)), np.asarray(pix_j(flat, flat2))
  exact = (2 * 0.3 * 0.301 + 1e-4) / (0.3 ** 2 + 0.301 ** 2 + 1e-4)
  row('constant images (0.3 vs 0.301)', fmt(np.abs(o - p).max()))
  print(f'  constant images: ours {o[0]:.8f} dm_pix {p[0]:.8f} exact {exact:.8f}')

  sr, hr = mnist
  o, p = np.asarray(ours_j(sr, hr)), np.asarray(pix_j(sr, hr))
  s = sk(sr[:500], hr[:500]) if sk else np.full(500, np.nan)
  worst = max(worst, np.abs(o - p).max())
  row('MNIST eval 2000 per image (skimage: first 500)', fmt(np.abs(o - p).max()),
      fmt(np.abs(o[:500] - s).max()), fmt(np.abs(p[:500] - s).max()))
  row('MNIST eval mean', fmt(abs(o.mean() - p.mean())))
  print(f'  MNIST mean SSIM: ours {o.mean():.8f}  dm_pix {p.mean():.8f}')
  # where do they differ? (MNIST has flat black borders)
  i = int(np.abs(o - p).argmax())
  print(f'  largest MNIST gap at image {8000 + i}: ours {o[i]:.8f} dm_pix {p[i]:.8f}')

  _, pairs = sun
  dl, d_sk = [], []
  for sr_i, hr_i in pairs:
    _, ours_val = metrics.whole_image(sr_i, hr_i, shave=2, with_ssim=True)
    a, b = literature_inputs(sr_i, hr_i)
    pv = float(pix_j(a[None].astype(np.float32), b[None].astype(np.float32))[0])
    dl.append(abs(ours_val - pv))
    if sk:
      d_sk.append((abs(ours_val - sk(a[None], b[None])[0]), abs(pv - sk(a[None], b[None])[0])))
  worst = max(worst, max(dl))
  d_sk = np.array(d_sk) if d_sk else np.full((1, 2), np.nan)
  row('Sun-80 eval 10 whole images (whole_image ssim)', fmt(max(dl)), fmt(d_sk[:, 0].max()),
      fmt(d_sk[:, 1].max()))
  print('  float64 check (ref = our formula in float64; dm_pix run in float64 under x64):')
  row('case', 'pix64-ref64', 'ours32-ref64', 'pix32-ref64')
  e = np.zeros((len(pairs), 3))
  for i, (sr_i, hr_i) in enumerate(pairs):
    a, b = literature_inputs(sr_i, hr_i)
    r64, p64 = ssim_ours_formula_f64(a[None], b[None])
    a32, b32 = a[None].astype(np.float32), b[None].astype(np.float32)
    e[i] = (abs(p64[0] - r64[0]), abs(float(ours_j(a32, b32)[0]) - r64[0]),
            abs(float(pix_j(a32, b32)[0]) - r64[0]))
  row('Sun-80 eval 10 whole images', *map(fmt, e.max(axis=0)))
  r64, p64 = ssim_ours_formula_f64(sr, hr)
  row('MNIST eval 2000', fmt(np.abs(p64 - r64).max()), fmt(np.abs(o - r64).max()),
      fmt(np.abs(p - r64).max()))
  # the window: ours numpy float64 -> float32, dm_pix float32 jnp
  g_ours = np.asarray(metrics._gaussian_window())
  x = ((jnp.arange(11) - 5) / 1.5) ** 2
  g_pix = np.asarray(jnp.exp(-0.5 * x) / jnp.sum(jnp.exp(-0.5 * x)))
  print(f'  Gaussian window max |ours - dm_pix| = {np.abs(g_ours - g_pix).max():.3e}')
  return worst


# ----------------------------------------------------------------------------- 3. depth_to_space
def check_d2s():
  print('\n== 3. depth_to_space: ours (PyTorch pixel_shuffle, CRD) vs dm_pix')
  rng = np.random.default_rng(2)
  results = {}
  for c, s in [(1, 2), (3, 2), (64, 2), (1, 3), (3, 3), (2, 4)]:
    y = rng.standard_normal((2, 5, 7, c * s * s)).astype(np.float32)
    o, p = np.asarray(models.depth_to_space(y, s)), np.asarray(pix.depth_to_space(y, s))
    eq = np.array_equal(o, p)
    # ours(y) == pix(y[..., perm]) with perm: DCR index (i*s + j)*c + k  <-  CRD k*s*s + i*s + j
    perm = np.arange(c * s * s).reshape(c, s, s).transpose(1, 2, 0).reshape(-1)
    eq_perm = np.array_equal(o, np.asarray(pix.depth_to_space(y[..., perm], s)))
    # and the torch reference, if torch is around
    results[(c, s)] = eq
    print(f'  C_out={c:<3d} scale={s}: equal={eq!s:<5}  equal after channel permutation '
          f'(CRD->DCR)={eq_perm}')
  return results


# ----------------------------------------------------------------------------- 4. speed
def bench(fns, args_list, reps, inner):
  """Interleaved: each rep runs every fn `inner` times; returns per-call seconds lists."""
  times = {k: [] for k in fns}
  for k, f in fns.items():  # compile + warm
    jax.block_until_ready(f(*args_list[k]))
  for _ in range(reps):
    for k, f in fns.items():
      args = args_list[k]
      t = time.perf_counter()
      for _ in range(inner):
        out = f(*args)
      jax.block_until_ready(out)
      times[k].append((time.perf_counter() - t) / inner)
  return times


def report(label, times):
  for k, t in times.items():
    t = np.array(t) * 1e3
    row(f'{label} {k}', f'{np.median(t):.3f} ms', f'[{t.min():.3f}, {t.max():.3f}]')


def check_speed():
  print('\n== 4. Speed (CPU, jitted, interleaved; median [min, max] per call)')
  reps = 5 if QUICK else 15
  rng = np.random.default_rng(3)
  for shape, inner in [((256, 28, 28, 1), 20), ((1, 512, 512, 1), 20)]:
    a = jnp.asarray(rng.random(shape, np.float32))
    b = jnp.asarray(np.clip(np.asarray(a) + 0.05 * rng.standard_normal(shape), 0, 1).astype(np.float32))
    fns = {'psnr ours': jax.jit(metrics.psnr), 'psnr dm_pix': jax.jit(pix.psnr)}
    report(f'{shape}', bench(fns, {k: (a, b) for k in fns}, reps, inner * 5))
    fns = {'ssim ours': jax.jit(metrics.ssim), 'ssim dm_pix': jax.jit(pix_ssim)}
    report(f'{shape}', bench(fns, {k: (a, b) for k in fns}, reps, inner))

  # depth_to_space inside a conv model-like function (ESPCN-ish tail), forward and grad
  def make(d2s, c_out):
    def f(w1, w2, x):
      dn = ('NHWC', 'HWIO', 'NHWC')
      h = jnp.tanh(jax.lax.conv_general_dilated(x, w1, (1, 1), 'SAME', dimension_numbers=dn))
      h = jax.lax.conv_general_dilated(h, w2, (1, 1), 'SAME', dimension_numbers=dn)
      return d2s(h, 2)
    def loss(w1, w2, x, t):
      return jnp.mean((f(w1, w2, x) - t) ** 2)
    return jax.jit(f), jax.jit(jax.grad(loss, argnums=(0, 1)))

  for n, hw, c_out in [(32, 14, 1), (8, 64, 3)]:
    x = jnp.asarray(rng.random((n, hw, hw, c_out), np.float32))
    t = jnp.asarray(rng.random((n, 2 * hw, 2 * hw, c_out), np.float32))
    w1 = jnp.asarray(0.1 * rng.standard_normal((3, 3, c_out, 32)), jnp.float32)
    w2 = jnp.asarray(0.1 * rng.standard_normal((3, 3, 32, 4 * c_out)), jnp.float32)
    fo, go = make(models.depth_to_space, c_out)
    fp, gp = make(pix.depth_to_space, c_out)
    args = (w1, w2, x)
    inner = 10
    report(f'conv+d2s fwd ({n},{hw},{hw},{c_out})',
           bench({'ours': fo, 'dm_pix': fp}, {'ours': args, 'dm_pix': args}, reps, inner))
    gargs = (w1, w2, x, t)
    report(f'conv+d2s grad ({n},{hw},{hw},{c_out})',
           bench({'ours': go, 'dm_pix': gp}, {'ours': gargs, 'dm_pix': gargs}, reps, inner))
    # the bare op
    y = jnp.asarray(rng.random((n, hw, hw, 4 * c_out), np.float32))
    report(f'bare d2s ({n},{hw},{hw},{4 * c_out})',
           bench({'ours': jax.jit(lambda y: models.depth_to_space(y, 2)),
                  'dm_pix': jax.jit(lambda y: pix.depth_to_space(y, 2))},
                 {'ours': (y,), 'dm_pix': (y,)}, reps, 50))


def main():
  print(f'jax {jax.__version__} on {jax.devices()[0].platform}, dm_pix {pix.__version__}, '
        f'cpus {os.cpu_count()}')
  t0 = time.time()
  mnist = mnist_eval()
  sun = sun80_eval()
  print(f'data loaded in {time.time() - t0:.1f}s: MNIST {mnist[0].shape}, Sun-80 files {sun[0][0]} .. {sun[0][-1]}')
  wp = check_psnr(mnist, sun)
  ws = check_ssim(mnist, sun)
  check_d2s()
  print(f'\nworst ours-vs-dm_pix: PSNR {wp:.3e} dB (float32 both), SSIM {ws:.3e}')
  if '--no-speed' not in sys.argv:
    check_speed()


if __name__ == '__main__':
  main()
