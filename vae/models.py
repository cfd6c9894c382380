"""The VAE and the plain autoencoder, siblings on one base `Model`, with MLP and small conv encoder/decoder pairs.

Both share one interface: `encode(x) -> (mu, logvar)`, `decode(z) -> probabilities`,
`forward(x) -> (logits, mu, logvar)`. For the autoencoder `logvar` is None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Integral

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU}


class ConfigError(ValueError):
    """A model or training setting is out of range; the message is one sentence naming it."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture."""

    kind: str = "vae"  # "vae" or "ae"
    arch: str = "mlp"  # "mlp" or "conv"
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512, 256)  # MLP widths, input side first
    channels: tuple[int, ...] = (32, 64)  # conv channels, input side first
    activation: str = "relu"  # "relu" or "elu"

    def __post_init__(self):
        if self.kind not in ("vae", "ae"):
            raise ConfigError(f"unknown model kind {self.kind!r}; choose 'vae' or 'ae'")
        if self.arch not in ("mlp", "conv"):
            raise ConfigError(f"unknown architecture {self.arch!r}; choose 'mlp' or 'conv'")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if not _positive_int(self.latent_dim):
            raise ConfigError(f"latent_dim must be a whole number of at least 1, not {self.latent_dim!r}")
        if isinstance(self.hidden, str) or not all(_positive_int(h) for h in self.hidden):
            raise ConfigError(f"the hidden widths must be whole numbers of at least 1, not {self.hidden!r}")
        if isinstance(self.channels, str) or len(self.channels) != 2 or not all(map(_positive_int, self.channels)):
            raise ConfigError(f"channels must be two whole numbers of at least 1, not {self.channels!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("hidden", "channels"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _positive_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def activation_name(name: str) -> str:
    """How a config's activation is written ("ReLU", "ELU"); "?" for one this version does not know."""
    return ACTIVATIONS[name].__name__ if name in ACTIVATIONS else "?"


def _act(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def _mlp(sizes: list[int], act: str) -> nn.Sequential:
    """Linear layers with the activation `act` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_act(act))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, hidden: tuple[int, ...], out_dim: int, act: str = "relu"):
        super().__init__()
        self.net = _mlp([N_PIXELS, *hidden, out_dim], act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # (N, 1, 28, 28) -> (N, out_dim)


class MLPDecoder(nn.Module):
    def __init__(self, hidden: tuple[int, ...], latent_dim: int, act: str = "relu"):
        super().__init__()
        self.net = _mlp([latent_dim, *reversed(hidden), N_PIXELS], act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)  # (N, z) -> (N, 1, 28, 28) logits

    @torch.no_grad()
    def init_output_bias(self, mean_image: torch.Tensor) -> None:
        """Start every pixel's logit at the data's mean intensity there."""
        self.net[-1].bias.copy_(torch.logit(mean_image.flatten(), eps=1e-3))


class ConvEncoder(nn.Module):
    def __init__(self, channels: tuple[int, ...], out_dim: int, act: str = "relu"):
        super().__init__()
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1),  # -> (c1, 14, 14)
            _act(act),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # -> (c2, 7, 7)
            _act(act),
        )
        self.head = _mlp([c2 * 7 * 7, 256, out_dim], act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))  # (N, 1, 28, 28) -> (N, out_dim)


class ConvDecoder(nn.Module):
    def __init__(self, channels: tuple[int, ...], latent_dim: int, act: str = "relu"):
        super().__init__()
        c1, c2 = channels
        self.c2 = c2
        self.fc = nn.Sequential(_mlp([latent_dim, 256, c2 * 7 * 7], act), _act(act))
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # -> (c1, 14, 14)
            _act(act),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # -> (1, 28, 28) logits
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(-1, self.c2, 7, 7))

    @torch.no_grad()
    def init_output_bias(self, mean_image: torch.Tensor) -> None:
        """Start the logits at the data's overall mean intensity (a conv layer has one bias per channel)."""
        self.deconv[-1].bias.fill_(torch.logit(mean_image.mean(), eps=1e-3).item())


def _encoder_decoder(config: ModelConfig, out_dim: int) -> tuple[nn.Module, nn.Module]:
    act = config.activation
    if config.arch == "mlp":
        return MLPEncoder(config.hidden, out_dim, act), MLPDecoder(config.hidden, config.latent_dim, act)
    return ConvEncoder(config.channels, out_dim, act), ConvDecoder(config.channels, config.latent_dim, act)


class Model(nn.Module):
    """What the VAE and the autoencoder share: an encoder to `out_dim` numbers per image, a Bernoulli decoder."""

    is_variational: bool

    def __init__(self, config: ModelConfig, out_dim: int):
        super().__init__()
        self.config = config
        self.encoder, self.decoder = _encoder_decoder(config, out_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, 1, 28, 28) -> mu (N, z) and logvar (N, z), or None for a deterministic code."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (N, z) -> (N, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities, shape (N, 1, 28, 28)."""
        return torch.sigmoid(self.decoder(z))

    def init_output_bias(self, mean_image: torch.Tensor) -> None:
        """Set the decoder's output bias from the mean training image (28, 28), as Burda et al.'s IWAE code does:
        the first steps then learn strokes rather than the background."""
        self.decoder.init_output_bias(mean_image)


class VAE(Model):
    """Gaussian encoder q(z|x) = N(mu, diag(exp(logvar))) and Bernoulli decoder p(x|z)."""

    is_variational = True

    def __init__(self, config: ModelConfig):
        super().__init__(config, 2 * config.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (N, z) each
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps: the noise is an input, so gradients reach mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar  # (N, 1, 28, 28) logits, (N, z), (N, z)


class Autoencoder(Model):
    """The same encoder and decoder with a deterministic code: logvar is None."""

    is_variational = False

    def __init__(self, config: ModelConfig):
        super().__init__(config, config.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.encoder(x), None  # (N, z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        mu, _ = self.encode(x)
        return self.decode_logits(mu), mu, None


def build_model(config: ModelConfig) -> Model:
    """A fresh model for `config`: a `VAE`, or an `Autoencoder` when config.kind == 'ae'."""
    return VAE(config) if config.kind == "vae" else Autoencoder(config)
