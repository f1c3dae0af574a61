import numpy as np
import pytest
import soundfile as sf

from gruve.audio import AudioError, load
from conftest import tone


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("FLAC", "PCM_16", "flac"),
                                             ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3"),
                                             ("WAV", "FLOAT", "wav")])
def test_formats_load_to_mono_at_the_requested_rate(tmp_path, fmt, subtype, ext):
    stereo = np.stack([tone(440, 1.0, 44100), tone(440, 1.0, 44100, seed=1)], axis=1)
    path = tmp_path / f"clip.{ext}"
    sf.write(path, stereo, 44100, format=fmt, subtype=subtype)
    y = load(path, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) < 16000 * 0.07  # mp3 adds encoder padding
    peak_bin = np.abs(np.fft.rfft(y[:16000 // 2])).argmax() * 2  # 2 Hz per bin over 0.5 s
    assert abs(peak_bin - 440) < 6


def test_load_keeps_the_native_rate_without_resampling(tmp_path):
    y0 = tone(440, 0.25, 8000)
    sf.write(tmp_path / "a.wav", y0, 8000, subtype="FLOAT")
    assert np.array_equal(load(tmp_path / "a.wav", 8000), y0)


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make,phrase", [
    (lambda d: _write_bytes(d / "empty.wav", b""), "is empty"),
    (lambda d: _write_bytes(d / "text.wav", b"this is not audio at all, just text" * 10), "not a readable audio file"),
    (lambda d: d, "is a directory"),
    (lambda d: d / "missing.wav", "does not exist"),
])
def test_bad_files_get_one_sentence_naming_the_file(tmp_path, make, phrase):
    path = make(tmp_path)
    with pytest.raises(AudioError) as caught:
        load(path, 16000)
    message = str(caught.value)
    assert phrase in message and str(path) in message and "\n" not in message


def test_truncated_zero_length_silent_and_nan_files(tmp_path):
    sf.write(tmp_path / "good.wav", tone(440, 1.0), 16000)
    whole = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(whole[:30])
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    bad = tone(440, 0.1)
    bad[5] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    inf = tone(440, 0.1)
    inf[7] = np.inf
    sf.write(tmp_path / "inf.wav", inf, 16000, subtype="FLOAT")
    expected = {"truncated.wav": "not a readable audio file", "zero.wav": "no samples",
                "silent.wav": "all silence", "nan.wav": "NaN or infinite", "inf.wav": "NaN or infinite"}
    for name, phrase in expected.items():
        with pytest.raises(AudioError, match=phrase):
            load(tmp_path / name, 16000)


def test_a_file_cut_mid_data_still_loads_what_is_there(tmp_path):
    sf.write(tmp_path / "good.wav", tone(440, 1.0), 16000)
    whole = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    assert 0 < len(load(tmp_path / "cut.wav", 16000)) < 16000
