"""A compressing autoencoder of MNIST digits: 28x28 images (784 values) in codes of 32 values.

  python -m flax_srae.main --config=configs/ae28.py --workdir=/tmp/ae28

The encoder (three convolutions, each followed by ReLU, strided down to 7x7) maps each image
to a code of `latent_dim` values through a dense layer; the decoder rebuilds the image by
transposed convolutions. Trains on images [0, 8000) of ../shared/data/mnist and evaluates on
[8000, 10000), against PCA with as many components fitted on the same training images and the
area downscale to about as many values upscaled bicubically. Measured on 2 CPU cores
(python experiments/autoencoder.py OUT d32; pretrained:mnist_ae): 24.41 dB / SSIM 0.9539
(squared error 3.56 per image) after 6,000 steps in about 5 minutes, against 18.43 dB for PCA
with 32 components and 13.58 for the 6x6 area code. Other code sizes and denoising
(--config.noise_std=0.5): experiments/README.md.
"""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model = 'autoencoder'
  config.latent_dim = 32
  config.features = (32, 64, 32)
  config.batch_size = 64
  config.num_train_steps = 6000
  # A higher peak than the super-resolution models' with a cosine decay to zero: the code's
  # dense layers keep improving late, when the rate is small (experiments/README.md).
  config.learning_rate = 2e-3
  config.lr_schedule = 'cosine'
  config.warmup_steps = 100
  return config
