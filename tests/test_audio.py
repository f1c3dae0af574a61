import os

import numpy as np
import pytest
import soundfile as sf

from gruve.audio import AudioError, blocks, is_audio_file, load
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


def test_a_wav_cut_mid_data_is_refused_as_truncated_not_read_as_a_shorter_clip(tmp_path, datasets):
    real = datasets / "fsdd" / "recordings" / "3_jackson_0.wav"
    (tmp_path / "cut.wav").write_bytes(real.read_bytes()[:300])  # soundfile reads the 128 samples there as a clip
    with pytest.raises(AudioError, match=r"cut.wav is truncated: its data chunk holds 256 of the [\d,]+ bytes its "
                                         r"header declares\.$"):
        load(tmp_path / "cut.wav", 8000)
    with pytest.raises(AudioError, match="is truncated"):
        next(blocks(tmp_path / "cut.wav", 8000))


def test_a_wav_with_the_unknown_length_of_a_pipe_still_loads(tmp_path):
    sf.write(tmp_path / "piped.wav", tone(440, 0.25, 8000), 8000)
    data = bytearray((tmp_path / "piped.wav").read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = (0xFFFFFFFF).to_bytes(4, "little")  # what ffmpeg writes to a pipe, which it cannot seek
    (tmp_path / "piped.wav").write_bytes(bytes(data))
    assert len(load(tmp_path / "piped.wav", 8000)) == 2000


def test_symbolic_links_that_lead_nowhere_say_so(tmp_path):
    (tmp_path / "a.wav").symlink_to("b.wav")
    (tmp_path / "b.wav").symlink_to("a.wav")
    (tmp_path / "gone.wav").symlink_to("nowhere.wav")
    with pytest.raises(AudioError, match=r"a.wav is a symbolic link loop\.$"):
        load(tmp_path / "a.wav", 16000)
    with pytest.raises(AudioError, match=r"gone.wav is a symbolic link to nowhere.wav, which does not exist\.$"):
        next(blocks(tmp_path / "gone.wav", 16000))
    assert is_audio_file(tmp_path / "a.wav")  # so a folder scan reports it instead of passing over it


def test_a_file_name_that_is_not_utf8_loads(tmp_path):
    name = tmp_path / os.fsdecode(b"bad\xff.wav")
    sf.write(os.fsencode(name), tone(440, 0.25, 8000), 8000)
    assert len(load(name, 8000)) == 2000
    assert sum(len(b) for b in blocks(name, 8000)) == 2000


def test_a_clip_shorter_than_the_model_needs_is_refused(tmp_path):
    sf.write(tmp_path / "click.wav", tone(440, 0.02, 8000), 8000)
    assert len(load(tmp_path / "click.wav", 8000, min_samples=160)) == 160
    with pytest.raises(AudioError, match=r"click.wav holds 0.020 s of audio, shorter than the 0.040 s the model "
                                         r"needs for one step\.$"):
        load(tmp_path / "click.wav", 8000, min_samples=320)


def test_blocks_refuse_nan_saying_where(tmp_path):
    y = tone(440, 1.0, 8000)
    y[6000] = np.nan
    sf.write(tmp_path / "nan.wav", y, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav contains NaN or infinite samples \(the first at 0.750 s\)\.$"):
        list(blocks(tmp_path / "nan.wav", 16000, 0.1))


def damaged_mp3(path):
    """An MP3 with a run of garbage in the middle, where the decoder has to resync."""
    sf.write(path, tone(440, 2.0, 16000), 16000, format="MP3", subtype="MPEG_LAYER_III")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 400] = b"\x55" * 400
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("read", [lambda path: load(path, 16000), lambda path: list(blocks(path, 16000, 0.05))])
def test_decoder_notes_are_reported_once_naming_the_file(read, tmp_path, capfd, caplog):
    path = damaged_mp3(tmp_path / "take 1.mp3")
    read(path)
    _, err = capfd.readouterr()
    assert "Trying to resync" not in err and "Illegal Audio-MPEG-Header" not in err  # not the decoder's raw lines
    [record] = [r for r in caplog.records if r.name == "gruve.audio"]
    assert str(path) in record.getMessage() and "Illegal Audio-MPEG-Header" in record.getMessage()
    caplog.clear()
    sf.write(tmp_path / "clean.mp3", tone(440, 2.0, 16000), 16000, format="MP3", subtype="MPEG_LAYER_III")
    read(tmp_path / "clean.mp3")
    assert not [r for r in caplog.records if r.name == "gruve.audio"]


def test_other_output_on_stderr_while_decoding_is_passed_on(tmp_path, capfd, monkeypatch):
    """Only the decoder's notes are taken: what another thread (a progress bar) writes meanwhile still shows."""
    real = sf.read

    def read_and_draw(*args, **kwargs):
        os.write(2, b"\x1b[2Kreading 3/10\r")
        return real(*args, **kwargs)

    monkeypatch.setattr(sf, "read", read_and_draw)
    load(damaged_mp3(tmp_path / "a.mp3"), 16000)
    assert "\x1b[2Kreading 3/10" in capfd.readouterr().err
