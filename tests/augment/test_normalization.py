"""The augmenter's normalisation: checked once, and a round trip to [0, 1] pixels and back."""
import pytest
import torch

from tst_mm.augment.normalization import (
    normalization_tensors,
    normalized_to_unit,
    unit_to_normalized,
)
from tst_mm.errors import ConfigError


def test_round_trip_and_values():
    mean, std = normalization_tensors([123.675, 116.28, 103.53], [58.395, 57.12, 57.375],
                                      torch.device('cpu'))
    assert mean.shape == std.shape == (1, 3, 1, 1)
    pixels = torch.rand(2, 3, 4, 5)
    normalised = unit_to_normalized(pixels, mean, std)
    # channel 0 of a pixel p: (255 p - 123.675) / 58.395
    assert normalised[0, 0, 0, 0].item() == pytest.approx(
        (255 * pixels[0, 0, 0, 0].item() - 123.675) / 58.395, rel=1e-5)
    torch.testing.assert_close(normalized_to_unit(normalised, mean, std), pixels)


def test_to_unit_clamps_and_one_channel_broadcasts():
    mean, std = normalization_tensors([127.5], [127.5], torch.device('cpu'))
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    unit = normalized_to_unit(x, mean, std)
    assert unit[0, 0, 0].tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert unit.shape == x.shape


def test_without_normalisation_inputs_are_pixels():
    assert normalization_tensors(None, None, torch.device('cpu')) == (None, None)
    x = torch.tensor([-0.5, 0.25, 1.5]).view(1, 1, 1, 3)
    assert normalized_to_unit(x, None, None).flatten().tolist() == [0.0, 0.25, 1.0]
    assert unit_to_normalized(x, None, None) is x


@pytest.mark.parametrize('mean, std, message', [
    ([1.0], None, 'given together'),
    ([1.0, 2.0], [1.0], 'lengths differ: 2 vs 1'),
    ([1.0], [0.0], 'non-zero'),
])
def test_bad_normalisations_are_refused(mean, std, message):
    with pytest.raises(ConfigError, match=message):
        normalization_tensors(mean, std, torch.device('cpu'))


def test_channel_mismatch_is_refused():
    mean, std = normalization_tensors([1.0, 2.0], [1.0, 1.0], torch.device('cpu'))
    with pytest.raises(ConfigError, match='2 channels but the inputs have 3'):
        normalized_to_unit(torch.zeros(1, 3, 2, 2), mean, std)
