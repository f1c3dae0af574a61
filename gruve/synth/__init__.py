"""synth: sample-level GRU audio synthesis (WaveRNN-style)."""
