"""Models and objectives on small synthetic tensors."""

import math

import pytest
import torch

from vae.models import (
    MAX_PARAMETERS,
    VAE,
    Autoencoder,
    ConfigError,
    Model,
    ModelConfig,
    activation_name,
    build_model,
)
from vae.objectives import iwae_bound, kl_to_standard_normal, neg_elbo, reconstruction_bce


@pytest.fixture(params=["mlp", "conv"])
def arch(request):
    return request.param


def _images(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_shapes_and_ranges(kind, arch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, arch=arch, latent_dim=3))
    x = _images(5)
    mu, logvar = model.encode(x)
    assert mu.shape == (5, 3)
    assert (logvar is None) == (kind == "ae")
    if logvar is not None:
        assert logvar.shape == (5, 3)
    probs = model.decode(torch.randn(7, 3))
    assert probs.shape == (7, 1, 28, 28)
    assert probs.min() >= 0 and probs.max() <= 1
    logits, mu2, _ = model(x)
    assert logits.shape == x.shape
    assert torch.allclose(mu, mu2)


def test_build_model_gives_sibling_models_on_one_base():
    vae, ae = build_model(ModelConfig(kind="vae")), build_model(ModelConfig(kind="ae"))
    assert type(vae) is VAE and type(ae) is Autoencoder
    assert isinstance(vae, Model) and isinstance(ae, Model) and not isinstance(ae, VAE)
    assert vae.is_variational and not ae.is_variational
    assert not hasattr(ae, "reparameterize")  # an autoencoder draws no noise


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("kind", "gan", "kind must be vae or ae, not 'gan'"),
        ("arch", "transformer", "arch must be mlp or conv, not 'transformer'"),
        ("activation", "tanh", "activation must be relu or elu, not 'tanh'"),
        ("latent_dim", 0, "latent_dim must be a whole number of at least 1"),
        ("latent_dim", 65, "latent_dim must be a whole number of at least 1 and at most 64, not 65"),
        ("latent_dim", 2.5, "latent_dim must be a whole number"),
        ("hidden", (512, 0), "hidden must be 1 to 4 whole numbers of at least 1"),
        ("hidden", (5000,), "hidden must be 1 to 4 whole numbers of at least 1 and at most 4096"),
        ("hidden", (64,) * 5, "hidden must be 1 to 4 whole numbers"),
        ("hidden", "512", "hidden must be"),
        ("channels", (32,), "channels must be two whole numbers"),
        ("channels", (32, -1), "channels must be two whole numbers"),
        ("channels", (32, 257), "channels must be two whole numbers of at least 1 and at most 256"),
    ],
)
def test_a_config_checks_itself(field, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        ModelConfig(**{field: value})
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    assert caught.value.problems == [str(caught.value)]  # one bad value, one sentence


def test_every_bad_value_gets_its_own_sentence():
    with pytest.raises(ConfigError) as caught:
        ModelConfig(kind="gan", latent_dim=0, hidden=(0,))
    assert [p.split(" ")[0] for p in caught.value.problems] == ["kind", "latent_dim", "hidden"]
    assert all(p.endswith(".") and p.count(". ") == 0 for p in caught.value.problems)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(kind="ae", hidden=(64, 32, 16)),
        ModelConfig(arch="conv", latent_dim=16, channels=(16, 48), activation="elu"),
        ModelConfig(kind="ae", arch="conv", latent_dim=5),
    ],
    ids=str,
)
def test_the_parameter_count_is_that_of_the_built_model(config):
    assert config.parameter_count() == sum(p.numel() for p in build_model(config).parameters())


def test_a_model_over_the_parameter_cap_is_refused_before_it_is_built():
    within = ModelConfig(hidden=(4096, 1024))
    assert within.parameter_count() <= MAX_PARAMETERS
    with pytest.raises(ConfigError, match=r"would have [\d,]+ parameters, more than the 20,000,000 allowed"):
        ModelConfig(hidden=(4096, 4096, 4096))
    widest_conv = ModelConfig(arch="conv", channels=(256, 256), latent_dim=64)  # the conv bounds keep it under
    assert widest_conv.parameter_count() <= MAX_PARAMETERS


def test_a_card_naming_an_unknown_activation_cannot_be_read_back():
    card = ModelConfig().to_dict() | {"activation": "gelu"}  # a card from a newer version
    with pytest.raises(ConfigError, match="gelu"):
        ModelConfig.from_dict(card)


@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_activation_is_used_throughout(arch, activation):
    model = build_model(ModelConfig(arch=arch, activation=activation))
    used = {type(m).__name__ for m in model.modules() if type(m).__name__ in ("ReLU", "ELU")}
    assert used == {"ReLU" if activation == "relu" else "ELU"}
    assert activation_name(activation) == ("ReLU" if activation == "relu" else "ELU")
    assert activation_name("gelu") == "?"  # a card from a newer version still gets a caption


def test_config_round_trip():
    config = ModelConfig(kind="ae", arch="conv", latent_dim=16, hidden=(64, 32), activation="elu")
    assert ModelConfig.from_dict(config.to_dict()) == config
    older_card = {k: v for k, v in config.to_dict().items() if k != "activation"}  # cards from before the option
    assert ModelConfig.from_dict(older_card).activation == "relu"


def test_analytic_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 3, generator=g)
    logvar = torch.randn(4, 3, generator=g) * 0.5
    n = 200_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 4, 3, generator=g)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), mc, atol=0.03)


def test_kl_is_zero_at_prior():
    assert torch.allclose(kl_to_standard_normal(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))


def test_reconstruction_bce_matches_formula():
    x = _images(2)
    logits = torch.randn(2, 1, 28, 28)
    p = torch.sigmoid(logits)
    manual = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(reconstruction_bce(logits, x), manual, rtol=1e-4)


def test_neg_elbo_beta_weights_kl():
    x = _images(3)
    torch.manual_seed(0)
    logits, mu, logvar = torch.randn(3, 1, 28, 28), torch.randn(3, 2), torch.randn(3, 2)
    loss1, recon, kl = neg_elbo(logits, x, mu, logvar, beta=1.0)
    loss4, _, _ = neg_elbo(logits, x, mu, logvar, beta=4.0)
    assert torch.allclose(loss1, recon + kl)
    # float32 sums of about 600 nats: compare the difference to about 1e-4 nats, not to 1e-8
    torch.testing.assert_close(loss4 - loss1, 3 * kl, atol=1e-3, rtol=1e-5)
    loss_ae, _, kl_ae = neg_elbo(logits, x, mu, None)
    assert torch.equal(kl_ae, torch.zeros(3)) and torch.allclose(loss_ae, recon)


def test_gradients_flow_through_reparameterization():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2))
    x = _images(4)
    mu, logvar = model.encode(x)
    mu.retain_grad()
    logvar.retain_grad()
    z = model.reparameterize(mu, logvar)
    reconstruction_bce(model.decode_logits(z), x).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0
    first_layer = model.encoder.net[0].weight
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0


def test_reparameterization_has_the_posterior_moments():
    model = VAE(ModelConfig(latent_dim=2))
    mu = torch.tensor([[1.5, -2.0]]).expand(100_000, 2)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]]).expand(100_000, 2)
    z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0]), atol=0.03)


def test_iwae_is_never_below_the_elbo_and_tightens_with_k():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=4, hidden=(64,))).eval()
    x = _images(16)
    g = torch.Generator().manual_seed(0)
    # The k = 1 bound is a one-sample -ELBO; its average over many draws is the -ELBO itself.
    elbo = torch.stack([iwae_bound(model, x, 1, g) for _ in range(400)]).mean(0)
    means = {k: torch.stack([iwae_bound(model, x, k, g) for _ in range(40)]).mean(0) for k in (1, 8, 64)}
    assert (means[64] <= elbo + 0.05).all()
    assert means[8].mean() < means[1].mean()
    assert means[64].mean() < means[8].mean()


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_output_bias_starts_at_the_mean_image(kind, arch):
    mean = torch.rand(28, 28, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01
    model = build_model(ModelConfig(kind=kind, arch=arch, latent_dim=3))
    model.init_output_bias(mean)
    last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear | torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.weight.zero_()  # the output is then the bias alone
    probs = model.decode(torch.randn(2, 3))
    expected = mean if arch == "mlp" else mean.mean().expand(28, 28)  # a conv layer has one bias per channel
    torch.testing.assert_close(probs[0, 0], expected, atol=1e-5, rtol=0)
    assert torch.equal(probs[0], probs[1])
