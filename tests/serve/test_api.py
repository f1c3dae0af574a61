"""The HTTP API against the real app and the shipped models (FastAPI's test client): what each endpoint
answers, and one JSON sentence for every bad input, after which the server still answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from gruve import listen
from gruve.serve import Limits, create_app, load_models

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "examples" / "digits" / "7_jackson_1.wav"
SEQUENCE = ROOT / "examples" / "digits" / "sequence_2_0_4_8_6.wav"


@pytest.fixture(scope="module")
def models():
    return load_models(["fsdd-digits", "bach-chorales", "jsb-gru-nade", "drums", "30music", "fsdd-transcribe"])


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models, Limits(upload_mb=1, bars=16, pieces=2))) as client:
        yield client


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    return body["error"]


def test_models_lists_each_loaded_model_with_what_it_can_do(client):
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert list(listed) == ["fsdd-digits", "bach-chorales", "jsb-gru-nade", "drums", "30music", "fsdd-transcribe"]
    assert listed["fsdd-digits"]["labels"] == [str(d) for d in range(10)] and listed["fsdd-digits"]["sr"] == 8000
    assert listed["fsdd-digits"]["streams"] is True
    assert listed["drums"]["labels"][:2] == ["clap", "cymbal"]
    assert {m["task"] for m in listed.values()} == {"listen", "compose", "pianoroll", "synth", "recommend",
                                                     "transcribe"}
    assert listed["fsdd-transcribe"]["streams"] is True and listed["fsdd-transcribe"]["sr"] == 8000


def test_listen_answers_as_the_python_api_does_for_an_upload_a_body_and_pcm(client, models):
    expected = listen.predict(models["fsdd-digits"].model, CLIP, top_k=3).to_json()[0]
    expected["path"] = CLIP.name
    uploaded = client.post("/listen/fsdd-digits", files={"file": (CLIP.name, CLIP.read_bytes())}).json()
    assert uploaded == expected
    body = client.post("/listen/fsdd-digits", content=CLIP.read_bytes(), headers={"x-filename": CLIP.name}).json()
    assert body == expected
    y, sr = sf.read(SEQUENCE, dtype="float32")
    pcm = client.post(f"/listen/fsdd-digits?sr={sr}&k=1", content=y.tobytes()).json()
    assert pcm["answer"] == listen.predict(models["fsdd-digits"].model, SEQUENCE).predictions[0].answer
    assert pcm["segments"] and len(pcm["top"]) == 1


@pytest.mark.parametrize("send, status, sentence", [
    (dict(content=b"not audio at all", headers={"x-filename": "notes.txt"}), 400,
     "notes.txt is not a readable audio file (format not recognised)."),
    (dict(content=b""), 400, "upload is empty: send an audio file."),
    (dict(files={"other": ("a.wav", b"x")}), 400, "send the audio as the multipart field 'file', or as the request body."),
    (dict(content=b"\0" * (2 << 20)), 413, "the request body of 2.0 MB is larger than this server's limit of 1 MB (--upload-mb)."),
    (dict(content=b"abc", params={"sr": 8000}), 400,
     "PCM must be float32 samples (a multiple of 4 bytes) at a rate ?sr= from 1000 to 384000."),
])
def test_a_bad_upload_is_one_sentence_and_the_server_goes_on(client, send, status, sentence):
    assert error(client.post("/listen/fsdd-digits", **send), status) == sentence
    assert client.post("/listen/fsdd-digits", content=CLIP.read_bytes()).json()["answer"] == "7"


def test_a_body_without_a_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(3):
            yield b"\0" * (1 << 19)

    assert error(client.post("/listen/fsdd-digits", content=chunks()), 413) == \
        "the request body is larger than this server's limit of 1 MB (--upload-mb)."


def test_wrong_models_and_options_are_named(client):
    assert error(client.post("/listen/nope", content=b"x"), 404) == \
        "no model named 'nope' is loaded; loaded: fsdd-digits, bach-chorales, jsb-gru-nade, drums, 30music, fsdd-transcribe."
    assert error(client.post("/listen/bach-chorales", content=b"x"), 400) == \
        "bach-chorales is a compose model, and /listen needs a listen model."
    assert error(client.post("/listen/fsdd-digits?k=11", content=b"x"), 422) == \
        "k must be between 1 and 10, the model's labels."
    assert error(client.post("/compose/bach-chorales", content=b"{bad"), 400) == \
        "the request body is not JSON: send the options as a JSON object."
    assert error(client.post("/compose/bach-chorales", json=[1]), 422).startswith("the body of /compose must be")
    assert error(client.post("/compose/bach-chorales", json={"primer": "/etc/passwd"}), 422) == \
        "/compose takes no option 'primer'; it takes n, bars, tokens, temperature, top_k, top_p, seed, conditions, may_end."
    assert error(client.post("/compose/bach-chorales", json={"n": "2"}), 422) == \
        "/compose's option 'n' cannot be \"2\": it must be a whole number."
    assert error(client.post("/compose/bach-chorales", json={"n": 0}), 422) == "'n' must be at least 1 (got 0)."
    assert error(client.post("/compose/bach-chorales", json={"bars": 17}), 422) == \
        "'bars' is 17, more than this server's limit of 16 (--bars)."
    assert error(client.post("/compose/jsb-gru-nade", json={"n": 3}), 422) == \
        "'n' is 3, more than this server's limit of 2 (--pieces)."
    assert error(client.post("/synth/drums", json={"label": "banjo"}), 400) == \
        "this model knows no label 'banjo'; it knows: clap, cymbal, hihat, kick, snare, tom."
    assert error(client.post("/recommend/30music", json={"history": "287922"}), 422).startswith("/recommend needs")


def test_a_generation_gives_its_files_by_id_only(client):
    made = client.post("/compose/bach-chorales", json={"n": 1, "bars": 4, "seed": 3}).json()
    assert [f["name"] for f in made["files"]] == ["sample-1.mid", "sample-1.wav", "samples.png"]
    wav = client.get(made["files"][1]["url"])
    assert wav.headers["content-type"] == "audio/wav"
    y, sr = sf.read(__import__("io").BytesIO(wav.content))
    assert len(y) / sr > 2 and np.abs(y).max() > 0.01
    assert client.get(made["files"][0]["url"]).content[:4] == b"MThd"
    for path in (f"/files/{made['id']}/..%2F..%2Fetc%2Fpasswd", f"/files/{made['id']}/sample-2.mid",
                 "/files/" + "0" * 32 + "/sample-1.mid"):
        assert client.get(path).status_code == 404
    rolls = client.post("/compose/jsb-gru-nade", json={"n": 1, "steps": 16}).json()
    assert [f["name"] for f in rolls["files"]] == ["sample-1.mid", "sample-1.wav", "samples.png"]
    sounds = client.post("/synth/drums", json={"label": "snare", "n": 2, "seconds": 0.25}).json()
    assert [f["name"] for f in sounds["files"]] == ["snare-1.wav", "snare-2.wav", "sounds.png"] and sounds["sr"] == 16000


def test_recommend_suggests_as_the_python_api_does(client, models):
    from gruve import recommend

    answer = client.post("/recommend/30music", json={"history": ["287922", "288110", "unknown"], "k": 3}).json()
    expected = recommend.suggest(models["30music"].model, ["287922", "288110"], 3, say=lambda _: None)
    assert [s["item"] for s in answer["suggestions"]] == [s.item for s in expected]
    assert answer["notes"] == ["ignored 1 item the model does not know: unknown"]


def test_the_stream_gives_the_events_of_gruve_listen_stream(client, models):
    y, sr = sf.read(SEQUENCE, dtype="float32")
    expected = [e.to_dict() for e in listen.stream(models["fsdd-digits"].model, listen.StreamOptions(source=str(SEQUENCE)))]
    with client.websocket_connect("/stream/fsdd-digits") as socket:
        for start in range(0, len(y), 800):
            socket.send_bytes(y[start:start + 800].tobytes())
        socket.send_text("end")
        got = []
        while "done" not in (message := socket.receive_json()):
            got.append(message)
    assert [e["label"] for e in got] == [e["label"] for e in expected]
    assert message["seconds"] == pytest.approx(len(y) / sr)
    with client.websocket_connect("/stream/fsdd-digits?sr=48000") as socket:  # resampled to the model's rate
        import soxr
        socket.send_bytes(soxr.resample(y, sr, 48000).astype(np.float32).tobytes())
        socket.send_text("end")
        labels = []
        while "done" not in (message := socket.receive_json()):
            labels.append(message["label"])
    assert labels == [e["label"] for e in expected]


def test_a_bad_stream_is_told_and_a_dropped_one_harms_nothing(client):
    with client.websocket_connect("/stream/bach-chorales") as socket:
        assert socket.receive_json() == {"error": "bach-chorales is a compose model, and /stream needs a listen or transcribe model."}
    with client.websocket_connect("/stream/fsdd-digits") as socket:
        socket.send_text("hello")
        assert socket.receive_json()["error"].startswith("send the audio as binary messages of float32 samples")
        socket.send_bytes(np.zeros(800, np.float32).tobytes())
    # the client went away mid-stream: the next request is answered as ever
    assert client.post("/listen/fsdd-digits", content=CLIP.read_bytes()).json()["answer"] == "7"


def test_recommend_refuses_a_body_that_is_not_an_object(client):
    assert error(client.post("/recommend/30music", json=["287922"]), 422).startswith("/recommend needs")


def test_transcribe_answers_as_the_python_api_does_and_streams_the_text(client, models):
    expected = listen.transcribe(models["fsdd-transcribe"].model, SEQUENCE).to_json()[0]
    expected["path"] = SEQUENCE.name
    answer = client.post("/transcribe/fsdd-transcribe", files={"file": (SEQUENCE.name, SEQUENCE.read_bytes())}).json()
    assert answer == expected and answer["text"] == "2 0 4 8 6"
    assert error(client.post("/transcribe/fsdd-digits", content=b"x"), 400) == \
        "fsdd-digits is a listen model, and /transcribe needs a transcribe model."
    y, sr = sf.read(SEQUENCE, dtype="float32")
    with client.websocket_connect("/stream/fsdd-transcribe") as socket:
        for start in range(0, len(y), 800):
            socket.send_bytes(y[start:start + 800].tobytes())
        socket.send_text("end")
        heard = []
        while "done" not in (message := socket.receive_json()):
            heard.append(message)
    assert [h["text"] for h in heard if h["final"]] == ["2 0 4 8 6"]
    assert [h["text"] for h in heard if not h["final"]][-1] == "2 0 4 8 6"  # partial text, as it grew
