"""The VAE and the plain autoencoder, siblings on one base `Model`, with MLP and small conv encoder/decoder pairs.

Both share one interface: `encode(x) -> (mu, logvar)`, `decode(z) -> probabilities`,
`forward(x) -> (logits, mu, logvar)`. For the autoencoder `logvar` is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vae.settings import ConfigError, from_dict, problems, setting, to_dict

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU}


MAX_PARAMETERS = 20_000_000  # a bound on a model's size: 80 MB of float32 weights, twice that again for Adam


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture; out-of-range settings raise ConfigError on creation."""

    kind: str = setting(
        "vae",
        "vae or plain autoencoder",
        flag="--model",
        label="Model",
        choices=("vae", "ae"),  # the app's titles of the kinds are pages.common.KIND_TITLES
    )
    arch: str = setting(
        "mlp", "network type", label="Network", choices=("mlp", "conv"), titles=(("mlp", "MLP"), ("conv", "Conv"))
    )
    latent_dim: int = setting(2, "size of the latent code", label="Latent size", minimum=1, maximum=64)
    hidden: tuple[int, ...] = setting(
        (512, 256),
        "MLP layer widths, input side first",
        label="Hidden widths",
        minimum=1,
        maximum=4096,
        items=(1, 4),
        applies=(("arch", "mlp"),),
    )
    channels: tuple[int, ...] = setting(
        (32, 64), "conv channels, input side first", minimum=1, maximum=256, items=(2, 2), applies=(("arch", "conv"),)
    )
    activation: str = setting(
        "relu",
        "nonlinearity between layers",
        choices=tuple(ACTIVATIONS),
        advanced=True,
        titles=(("relu", "ReLU"), ("elu", "ELU")),
    )

    def __post_init__(self):
        found = problems(self)
        if not found and self.parameter_count() > MAX_PARAMETERS:
            found.append(
                f"the model would have {self.parameter_count():,} parameters, more than the {MAX_PARAMETERS:,} "
                "allowed; choose fewer or narrower layers."
            )
        if found:
            raise ConfigError(found)

    def parameter_count(self) -> int:
        """How many weights and biases `build_model(self)` has, counted without building it."""
        out = 2 * self.latent_dim if self.kind == "vae" else self.latent_dim
        if self.arch == "mlp":
            return _linear_count([N_PIXELS, *self.hidden, out]) + _linear_count(
                [self.latent_dim, *reversed(self.hidden), N_PIXELS]
            )
        c1, c2 = self.channels
        convs = 2 * (16 * c1 + 16 * c1 * c2) + c1 + c2 + c1 + 1  # two convolutions and two transposed, 4x4 kernels
        return convs + _linear_count([c2 * 49, 256, out]) + _linear_count([self.latent_dim, 256, c2 * 49])

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """The config a card's "model" (or a config.json's) describes; ConfigError with one sentence per problem."""
        return from_dict(cls, d)


def _linear_count(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


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
