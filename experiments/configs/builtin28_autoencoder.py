"""The autoencoder, 28->28 reconstruction through a 14x14 latent (configs/ae28.py); its bicubic is that of the 2x2 area downscale."""
from configs import ae28


def get_config():
  return ae28.get_config()
