"""Default hyperparameters: x2 super-resolution of 14x14 -> 28x28 grayscale patches.

configs/sr28.py is this config; the other configs import it and override a few fields.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()

  # Model: 'edsr' (residual blocks at low resolution, sub-pixel output, added to bicubic),
  # 'espcn', 'safmn' (SAFMN-style feature modulation blocks, sub-pixel output on bicubic),
  # 'encoder_decoder_residual' (encoder_decoder added to bicubic upsampling),
  # 'encoder_decoder' (the PyTorch peer's network, formerly 'seed'), or
  # 'autoencoder' (codes hr_size x hr_size images in latent_dim values: configs/ae28.py).
  # edsr with 4 blocks won on a validation slice of MNIST (experiments/README.md).
  config.model = 'edsr'
  config.channels = 1                 # 1: grayscale, 3: RGB
  config.features = (32, 64, 128)     # encoder_decoder*, autoencoder: encoder widths
  config.latent_dim = 32              # autoencoder: values in each image's code
  config.width = 32                   # edsr: channels of every convolution; safmn: features
  config.num_blocks = 4               # edsr: residual blocks; safmn: its blocks
  # edsr/espcn: > 0 trains every convolution as a collapsible block (kxk into expansion x its
  # width, 1x1 back, plus the input); loading and export collapse it into the plain network.
  config.expansion = 0

  # Data: 'builtin' (photos inside scikit-image, no network), 'folder' (image files in
  # data_dir), 'idx' (MNIST-format files in data_dir) or any TFDS name prepared in data_dir.
  config.dataset = 'builtin'
  config.data_dir = ''
  config.train_split = 'train'        # TFDS slicing: 'test[:8000]', 'train[:90%]', ...
  config.eval_split = 'test'          # never overlapping the train split
  config.hr_size = 28                 # high-resolution patch side; SR input hr_size / 2, the
                                      # autoencoder's image side
  config.degradation = 'area'         # 'area' (mean of 2x2 blocks) or 'bicubic' (antialiased)
  config.num_eval_patches = 2000      # fixed eval patches when eval images are larger than hr_size
  # 'patches': hr_size patches degraded on the device, eval on fixed patches. 'literature':
  # the super-resolution papers' x2 protocol (degradation 'bicubic'): low resolution made once
  # by PIL bicubic of whole 8-bit images, grayscale as studio-range luma (Y in [16, 235]),
  # training on aligned crops, eval on whole images, output rounded to 8 bits, `shave` border.
  config.protocol = 'patches'
  config.shave = 2

  # Optimisation.
  config.batch_size = 128
  config.learning_rate = 1e-3         # Adam; the peak with a schedule
  config.lr_schedule = 'constant'     # or 'cosine': linear warmup, cosine decay to 0 at the end
  config.warmup_steps = 0
  config.grad_clip = 0.0              # > 0: clip the gradient's global norm to this
  config.ema = 0.0                    # > 0 (e.g. 0.999): evaluate and ship a weight average
  config.loss = 'mse'                 # 'mse' or 'l1' (mean absolute error)
  config.mse_finetune = 0.0           # this fraction of the steps, the last, trains on MSE
  config.augment = False              # random 90-degree rotations and flips of training patches
  # protocol 'literature': each training image also shrunk by these factors (in (0, 1]; 1 is
  # the image itself), smaller views of the same scenes as more training pairs; each pair is
  # drawn as often as any other. E.g. (1.0, 0.8, 0.6).
  config.train_scales = (1.0,)
  # autoencoder: > 0 trains a denoiser, inputs with Gaussian noise of this standard deviation
  # (clipped to [0, 1]), clean targets.
  config.noise_std = 0.0
  config.num_train_steps = 2000
  config.seed = 0
  # A workdir, checkpoints folder or 'pretrained:NAME' whose weights (of the same
  # architecture) start this run in place of random ones: a new optimizer and schedule, step 0.
  # This is how a finished cosine run is extended. Read only when the workdir has no checkpoint.
  config.init_from = ''
  # 'bfloat16': hidden activations in bfloat16 (parameters, output and loss stay float32);
  # pays on GPUs and TPUs, usually slower on CPUs.
  config.dtype = 'float32'

  # Logging, evaluation and checkpoints.
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 3
  config.eval_batch_size = 500
  config.num_samples = 8              # rows of samples.png

  return config
