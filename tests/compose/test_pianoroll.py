"""Piano-roll models: heads that are proper distributions, step agreeing with forward, the NLL and frame
accuracy protocol, and sampling."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gruve.compose.pianoroll.model import PianoRollConfig, PianoRollModel
from gruve.compose.pianoroll.scoring import pad, score
from gruve.compose.pianoroll.training import transpose
from gruve.nn.heads import BernoulliHead, NadeHead


@pytest.mark.parametrize("head", [BernoulliHead(5, 6), NadeHead(5, 6, hidden_size=7)])
def test_heads_are_normalised_distributions_over_binary_vectors(head):
    torch.manual_seed(0)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=1.0)
    context = torch.randn(3, 5)
    everything = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))  # all 64 vectors
    total = torch.zeros(3)
    for v in everything:
        total += head.log_prob(context, v.expand(3, 6)).exp()
    assert torch.allclose(total, torch.ones(3), atol=1e-5)


def test_nade_mode_is_its_greedy_choice_and_samples_follow_temperature():
    torch.manual_seed(0)
    head = NadeHead(4, 10, hidden_size=8)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=1.0)
    context = torch.randn(2, 4)
    v = head.mode(context)
    logits = head.logits(context, v)
    assert torch.equal((logits > 0).float(), v)  # each unit took its more likely value given those before it
    generator = torch.Generator().manual_seed(1)
    many = context[:1].expand(500, 4)
    cold = head.sample(many, temperature=0.05, generator=generator)
    assert (cold == head.mode(many)).float().mean() > 0.99
    warm = head.sample(many, temperature=1.0, generator=generator)
    assert (warm == head.mode(many)).float().mean() < (cold == head.mode(many)).float().mean()


@pytest.mark.parametrize("model", ["gru", "gru-nade", "lstm"])
def test_stepping_gives_the_same_contexts_as_the_whole_sequence(model):
    torch.manual_seed(0)
    net = PianoRollModel(PianoRollConfig(model, hidden_size=16, num_layers=2, nade_hidden=8)).eval()
    roll = (torch.rand(1, 12, 88) < 0.05).float()
    whole = net.contexts(roll)
    frame, state, stepped = torch.zeros(1, 88), None, []
    for t in range(12):
        context, state = net.step(frame, state)
        stepped.append(context)
        frame = roll[:, t]
    assert torch.allclose(whole[0], torch.cat(stepped), atol=1e-5)


def test_nll_is_pooled_over_all_steps_and_frame_accuracy_counts_tp_fp_fn():
    net = PianoRollModel(PianoRollConfig("gru", hidden_size=4, dropout=0.0))
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    bias = 1.0
    torch.nn.init.constant_(net.head.logits.bias, bias)  # every note on with p = sigmoid(1), whatever came before
    silent, full = torch.zeros(10, 88), torch.ones(30, 88)
    result = score(net, [silent, full])
    on, off = math.log1p(math.exp(-bias)), math.log1p(math.exp(bias))  # -log p(1), -log p(0)
    assert result["nll"] == pytest.approx((10 * 88 * off + 30 * 88 * on) / 40, rel=1e-5)  # not the mean of means
    assert result["frames"] == 40
    assert result["accuracy"] == pytest.approx(30 / 40)  # all notes guessed on: TP 30*88, FP 10*88, FN 0
    torch.nn.init.constant_(net.head.logits.bias, -bias)
    assert score(net, [silent, full])["accuracy"] == 0.0  # all guessed off: no true positives


def test_padding_does_not_change_a_piece_score():
    torch.manual_seed(0)
    net = PianoRollModel(PianoRollConfig("gru-nade", hidden_size=8, nade_hidden=8)).eval()
    short, long = (torch.rand(5, 88) < 0.1).float(), (torch.rand(20, 88) < 0.1).float()
    rolls, lengths = pad([short, long])
    together = net.log_prob(rolls, lengths)
    alone = net.log_prob(short[None], torch.tensor([5]))
    assert torch.allclose(together[0, :5], alone[0], atol=1e-5)
    assert torch.all(together[0, 5:] == 0)


def test_sampling_is_repeatable_by_seed_and_continues_a_primer():
    torch.manual_seed(0)
    net = PianoRollModel(PianoRollConfig("gru-nade", hidden_size=8, nade_hidden=8)).eval()
    a, b = net.sample(10, n=2, seed=3), net.sample(10, n=2, seed=3)
    assert a.shape == (2, 10, 88) and torch.equal(a, b)
    assert not torch.equal(a, net.sample(10, n=2, seed=4))
    primer = torch.zeros(3, 88)
    primer[:, 40] = 1
    primed = net.sample(10, n=2, seed=3, primer=primer)
    assert torch.equal(primed[:, :3], primer.expand(2, 3, 88))


def test_transpose_moves_notes_and_drops_those_pushed_off_the_keyboard():
    roll = torch.zeros(2, 88)
    roll[0, 0] = roll[1, 87] = 1
    up = transpose(roll, 2)
    assert up[0, 2] == 1 and up.sum() == 1
    down = transpose(roll, -3)
    assert down[1, 84] == 1 and down.sum() == 1


def test_an_unknown_model_type_names_the_choices():
    with pytest.raises(ValueError, match="gru-nade"):
        PianoRollConfig("transformer")
