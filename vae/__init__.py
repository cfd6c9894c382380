"""VAE Latent Explorer: models, data, training, evaluation and latent-space maths for the app."""

__version__ = "0.1.0"
