"""The page in a real browser: Debian's Chromium, driven by Playwright, against a real server on loopback.

Chromium is installed by `make setup` (the `system` target); Playwright never downloads a browser here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup installs it)")
# The flags this machine's closed network needs (no background connections), and a fake microphone.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def spoken_seven(tmp_path_factory) -> Path:
    """A real FSDD recording of "7", with a little silence after it, at 48 kHz: Chromium's fake microphone
    plays it in a loop."""
    y, sr = sf.read(ROOT / "examples" / "digits" / "7_jackson_1.wav", dtype="float32")
    y = np.pad(y, (0, sr - len(y) % sr))
    path = tmp_path_factory.mktemp("microphone") / "seven.wav"
    sf.write(path, soxr.resample(y, sr, 48000), 48000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def page(server, spoken_seven):
    from playwright.sync_api import sync_playwright

    url, _ = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=FLAGS + [f"--use-file-for-fake-audio-capture={spoken_seven}"])
        context = browser.new_context()
        context.grant_permissions(["microphone"])
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')")
        yield page
        browser.close()


def test_the_page_labels_an_uploaded_clip(page):
    page.set_input_files("#file", str(ROOT / "examples" / "digits" / "9_yweweler_3.wav"))
    page.wait_for_selector("#listen-answer")
    assert page.text_content("#listen-answer") == "Heard: 9"
    assert "done" in page.text_content("#status")


def test_the_page_generates_a_chorale_that_plays(page):
    page.fill("#compose-length", "4")
    page.click("#compose-go")
    page.wait_for_selector("#compose-result audio", timeout=120_000)
    assert page.is_visible("#compose-result img")
    playing = page.evaluate("""async () => {
        const audio = document.querySelector('#compose-result audio');
        await audio.play();
        await new Promise((done) => setTimeout(done, 1500));
        return {paused: audio.paused, time: audio.currentTime, duration: audio.duration};
    }""")
    assert not playing["paused"] and playing["time"] > 0.5 and playing["duration"] > 2


def test_live_mode_labels_a_real_recording_from_the_microphone(page):
    page.click("#live-start")
    page.wait_for_function("document.querySelectorAll('#live-events li').length >= 3", timeout=30_000)
    page.click("#live-stop")
    labels = [item.split(" at ")[0] for item in page.locator("#live-events li").all_text_contents()]
    assert labels.count("7") >= len(labels) / 2, labels
    page.wait_for_function("document.getElementById('status').textContent.includes('stopped after')")


def test_a_bad_upload_says_what_went_wrong_on_the_page(page, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    page.set_input_files("#file", str(text))
    page.wait_for_selector("#status.error")
    assert page.text_content("#status") == "notes.txt is not a readable audio file (format not recognised)."


def test_the_page_transcribes_with_a_transcription_model(page):
    page.select_option("#listen-model", "fsdd-transcribe")
    page.set_input_files("#file", str(ROOT / "examples" / "digits" / "sequence_2_0_4_8_6.wav"))
    page.wait_for_function("document.getElementById('listen-answer')?.textContent === 'Heard: 2 0 4 8 6'")
    assert page.text_content("#status").startswith("Transcribing sequence_2_0_4_8_6.wav with fsdd-transcribe")
    page.select_option("#listen-model", "fsdd-digits")
