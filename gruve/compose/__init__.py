"""compose: generate music with GRUs (piano-roll models on the Boulanger-Lewandowski benchmark and on scores)."""
