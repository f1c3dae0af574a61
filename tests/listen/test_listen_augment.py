import torch

from gruve.listen.augment import AugmentConfig, augment

FLOOR = -100.0


def batch():
    torch.manual_seed(0)
    features = torch.randn(4, 16, 30) * 10 - 40
    features[1, :, 20:] = FLOOR
    return features, torch.tensor([30, 20, 30, 30]), torch.eye(4)


def test_off_changes_nothing():
    features, lengths, targets = batch()
    out, out_lengths, out_targets = augment(features, lengths, targets, AugmentConfig.off(), torch.zeros(16), 1e-10)
    assert torch.equal(out, features) and torch.equal(out_lengths, lengths) and torch.equal(out_targets, targets)


def test_gain_moves_real_frames_by_one_offset_and_leaves_padding():
    features, lengths, targets = batch()
    out, _, _ = augment(features, lengths, targets, AugmentConfig(**{**AugmentConfig.off().__dict__, "gain_db": 6.0}),
                        torch.zeros(16), 1e-10)
    shift = out[1, :, :20] - features[1, :, :20]
    assert torch.allclose(shift, shift[0, 0].expand_as(shift)) and abs(float(shift[0, 0])) <= 6
    assert torch.equal(out[1, :, 20:], features[1, :, 20:])


def test_mixup_keeps_targets_a_distribution_and_the_louder_part_dominant():
    features, lengths, targets = batch()
    config = AugmentConfig(**{**AugmentConfig.off().__dict__, "mixup": 0.4})
    out, out_lengths, out_targets = augment(features, lengths, targets, config, torch.zeros(16), 1e-10)
    assert torch.allclose(out_targets.sum(1), torch.ones(4)) and bool((out_targets.max(1).values >= 0.5).all())
    assert out.shape == features.shape and bool((out_lengths >= lengths).all())


def test_masks_fill_with_the_training_mean_and_noise_raises_power():
    features, lengths, targets = batch()
    fill = torch.full((16,), 7.0)
    config = AugmentConfig(**{**AugmentConfig.off().__dict__, "freq_masks": 1, "freq_width": 16, "time_masks": 1})
    torch.manual_seed(3)
    out, _, _ = augment(features, lengths, targets, config, fill, 1e-10)
    assert bool((out == 7.0).any())
    noisy = AugmentConfig(**{**AugmentConfig.off().__dict__, "noise": 1.0, "snr_db": (0.0, 0.0)})
    out, _, _ = augment(features, lengths, targets, noisy, fill, 1e-10, noise_bank=torch.randn(16, 100) - 40)
    assert bool((out[:, :, :20] >= features[:, :, :20]).all()) and bool((out[0] > features[0] + 1).any())


def test_shift_rolls_only_the_real_frames():
    features, lengths, targets = batch()
    config = AugmentConfig(**{**AugmentConfig.off().__dict__, "shift": 0.5})
    torch.manual_seed(1)
    out, _, _ = augment(features, lengths, targets, config, torch.zeros(16), 1e-10)
    assert torch.equal(out[1, :, 20:], features[1, :, 20:])
    for i, n in enumerate(lengths.tolist()):
        rolled = [k for k in range(n) if torch.equal(out[i, :, :n], torch.roll(features[i, :, :n], k, 1))]
        assert rolled and rolled[0] <= n * 0.5
    assert not torch.equal(out, features)
