import pytest
import torch

from gruve.nn import AttentionPool, ConvFrontEnd, MeanPool, RecurrentStack, frame_mask


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_step_by_step_equals_the_whole_sequence(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 7, num_layers=2).eval()
    x = torch.randn(3, 11, 5)
    whole = stack(x)
    state, steps = None, []
    for t in range(x.shape[1]):
        y, state = stack.step(x[:, t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_real_frames(bidirectional):
    torch.manual_seed(0)
    stack = RecurrentStack("gru", 4, 6, bidirectional=bidirectional).eval()
    short = torch.randn(1, 5, 4)
    padded = torch.cat([torch.cat([short, torch.randn(1, 4, 4)], 1), torch.randn(1, 9, 4)])
    out = stack(padded, torch.tensor([5, 9]))
    torch.testing.assert_close(out[:1, :5], stack(short), atol=1e-6, rtol=1e-5)
    assert torch.all(out[0, 5:] == 0)


def test_bidirectional_refuses_to_step():
    with pytest.raises(ValueError, match="cannot step"):
        RecurrentStack("gru", 4, 6, bidirectional=True).step(torch.randn(1, 4))


def test_conv_front_end_is_causal_and_counts_frames():
    torch.manual_seed(0)
    conv = ConvFrontEnd(40, (8, 16), (2, 2)).eval()
    x = torch.randn(1, 40, 37)
    changed = x.clone()
    changed[..., 20:] = torch.randn(1, 40, 17)
    a, b = conv(x), conv(changed)
    assert a.shape == (1, 9, conv.output_size)
    assert int(conv.frames_out(torch.tensor([37]))) == 9
    torch.testing.assert_close(a[:, :5], b[:, :5])  # output frames 0-4 cover input frames 0-19 only
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_pooling_ignores_padding():
    x = torch.randn(2, 6, 3)
    mask = frame_mask(torch.tensor([4, 6]), 6, 2)
    x_changed = x.clone()
    x_changed[0, 4:] = 100.0
    for pool in (MeanPool(), AttentionPool(3)):
        torch.testing.assert_close(pool(x, mask), pool(x_changed, mask))
    torch.testing.assert_close(MeanPool()(x, mask)[0], x[0, :4].mean(0))


@pytest.mark.parametrize("batch", [1, 3])
def test_fused_kernel_agrees_with_torch_gru(batch):
    torch.manual_seed(0)
    stack = RecurrentStack("gru", 5, 16, num_layers=2).eval()
    x, state = torch.randn(batch, 9, 5), torch.randn(2, batch, 16)
    expected, expected_state = stack.rnn(x, state)
    with torch.inference_mode():
        y, new_state = stack.scan(x, state)
        step_y, _ = stack.step(x[:, 0], state)
    assert hasattr(stack.rnn, "_gruve_fused")  # the fused path ran
    torch.testing.assert_close(y, expected.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(new_state, expected_state.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step_y, expected[:, 0].detach(), atol=1e-5, rtol=1e-5)


def test_fused_kernel_follows_weight_updates():
    torch.manual_seed(0)
    stack = RecurrentStack("gru", 3, 4).eval()
    x = torch.randn(1, 2, 3)
    with torch.inference_mode():
        stack.scan(x)
    with torch.no_grad():
        stack.rnn.weight_hh_l0.mul_(2.0)
    with torch.inference_mode():
        torch.testing.assert_close(stack.scan(x)[0], stack.rnn(x)[0], atol=1e-5, rtol=1e-5)
