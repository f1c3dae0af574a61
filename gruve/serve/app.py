"""The HTTP API and the web page: every loaded model behind a URL, each answer what the Python API gives.

No capability logic here: each endpoint reads its input, checks it against the limits, calls the capability's
public API on a worker thread and returns its result as JSON. Listening (files, streams, suggestions) and
generating (music, sounds) run on separate threads, so one slow generation never stalls a classification; the
listening thread is one thread, because reading audio redirects the process's stderr while a decoder runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import typing
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from gruve import bundle
from gruve.errors import GruveError, OptionError, check
from gruve.serve.limits import BodyTooLarge, Guard, Limits, Refused

PAGE = Path(__file__).with_name("page.html")
GENERATED_TYPES = {".mid": "audio/midi", ".wav": "audio/wav", ".png": "image/png"}
STREAMING_TASKS = ("listen", "transcribe")
RATES = (1000, 384_000)  # the sample rates PCM may be sent at (?sr=)


@dataclass
class Loaded:
    """One model the server holds: its name in URLs, its task, the model itself and what /models says of it."""

    name: str
    task: str
    model: object
    info: dict


def load_models(specs: list[str]) -> dict[str, Loaded]:
    """Load every model in `specs` (shipped names, bundle files or run folders; none: every shipped model),
    each under its name (a file's or folder's stem)."""
    from gruve.listen.model import StreamingEncoder

    shipped = bundle.pretrained_names()
    loaded: dict[str, Loaded] = {}
    for spec in specs or shipped:
        name = spec if spec in shipped else Path(spec).stem
        if name in ("model", "best"):  # a run folder's model.safetensors: the folder names it
            name = bundle.locate(spec).parent.name
        if name in loaded:
            raise GruveError(f"two models are named {name}; give them files or folders of different names.")
        model = bundle.load(spec)
        task = model.meta["task"]
        what, score = model.describe(model.meta)
        info = {"name": name, "task": task, "what": what, "test_score": score}
        if task in STREAMING_TASKS:
            info.update(sr=model.config.features.sr)
            if task == "listen":
                info["labels"] = model.labels
            try:
                StreamingEncoder(model)  # what refuses a model that cannot stream, a classifier or a transcriber
                info["streams"] = True
            except GruveError:
                info["streams"] = False
        elif task == "synth":
            info.update(labels=model.config.labels, sr=model.config.sr)
        elif task == "compose":
            info["conditions"] = model.config.conditions
        loaded[name] = Loaded(name, task, model, info)
    return loaded


@dataclass
class Files:
    """Generated files, served by opaque id only: a job's folder under the server's own temporary folder, its
    files listed in memory; no name a client sends ever becomes a path. Removed `keep` seconds after writing."""

    keep: float
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gruve-serve-")))
    jobs: dict[str, tuple[float, dict[str, Path]]] = field(default_factory=dict)

    def new_folder(self) -> tuple[str, Path]:
        self.clean()
        job = uuid.uuid4().hex
        folder = self.root / job
        folder.mkdir()
        return job, folder

    def publish(self, job: str, folder: Path) -> list[dict]:
        """Record the files `folder` holds as job `job`'s; their names, types and URLs."""
        files = {p.name: p for p in sorted(folder.iterdir()) if p.suffix in GENERATED_TYPES}
        self.jobs[job] = (time.monotonic(), files)
        return [{"name": name, "type": GENERATED_TYPES[p.suffix], "url": f"/files/{job}/{name}"}
                for name, p in files.items()]

    def find(self, job: str, name: str) -> Path | None:
        self.clean()
        return self.jobs.get(job, (0, {}))[1].get(name)

    def clean(self) -> None:
        now = time.monotonic()
        for job, (written, _) in list(self.jobs.items()):
            if now - written > self.keep:
                del self.jobs[job]
                shutil.rmtree(self.root / job, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def options_from(cls, given: dict, allowed: tuple[str, ...], where: str):
    """`cls(**given)` for a JSON object of the options a client may set; anything else is one sentence."""
    if not isinstance(given, dict):
        raise Refused(f"the body of {where} must be a JSON object of options ({', '.join(allowed)}).", 422)
    unknown = [key for key in given if key not in allowed]
    if unknown:
        raise Refused(f"{where} takes no option {unknown[0]!r}; it takes {', '.join(allowed)}.", 422)
    hints = typing.get_type_hints(cls)
    for key, value in given.items():
        if not bundle.conforms(value, hints[key]):
            raise Refused(f"{where}'s option {key!r} cannot be {json.dumps(value)}: it must be "
                          f"{bundle.describe_type(hints[key])}.", 422)
    try:
        return cls(**given)
    except OptionError as error:
        raise Refused(error.render(lambda name: repr(name)), 422) from None
    except TypeError:
        raise Refused(f"{where}'s options must be numbers, text or true/false: {json.dumps(given)}.", 422) from None


def create_app(models: dict[str, Loaded], limits: Limits | None = None, token: str | None = None):
    """The ASGI app serving `models` within `limits`: FastAPI's, inside the `Guard` that checks the token,
    the body size and the requests in flight."""
    from contextlib import asynccontextmanager

    limits = limits or Limits()
    listening = ThreadPoolExecutor(1, thread_name_prefix="gruve-listen")
    generating = ThreadPoolExecutor(1, thread_name_prefix="gruve-generate")
    files = Files(limits.keep_files)

    @asynccontextmanager
    async def lifespan(_):
        yield
        listening.shutdown(wait=False, cancel_futures=True)
        generating.shutdown(wait=False, cancel_futures=True)
        files.close()

    app = FastAPI(title="gruve", version=_version(), lifespan=lifespan, description="GRU models on sound: every "
                  "loaded model behind a URL. Errors are JSON: {\"error\": one sentence}.")

    @app.exception_handler(GruveError)
    async def _gruve_error(_, error: GruveError):
        return JSONResponse({"error": str(error)}, status_code=getattr(error, "status", 400))

    @app.exception_handler(HTTPException)
    async def _http_error(_, error: HTTPException):
        return JSONResponse({"error": _sentence(str(error.detail))}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_, error: RequestValidationError):
        first = error.errors()[0]
        where = " ".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}."}, status_code=422)

    def model_for(name: str, task: tuple[str, ...], endpoint: str) -> Loaded:
        found = models.get(name)
        if found is None:
            raise Refused(f"no model named {name!r} is loaded; loaded: {', '.join(models)}.", 404)
        if found.task not in task:
            raise Refused(f"{name} is a {found.task} model, and {endpoint} needs a {' or '.join(task)} model.", 400)
        return found

    async def run(pool: ThreadPoolExecutor, work: Callable, *args):
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(pool, work, *args), limits.timeout)
        except asyncio.TimeoutError:
            raise Refused(f"the request took longer than this server's limit of {limits.timeout:g} seconds "
                          "(--timeout).", 504) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get("/models", summary="The loaded models: name, task, what they do, labels, sample rate")
    async def list_models():
        return {"models": [m.info for m in models.values()],
                "limits": {f.name: getattr(limits, f.name) for f in fields(limits)}}

    @app.post("/listen/{model}", summary="Label an audio file (multipart field 'file', or the file as the body; "
                                         "float32 PCM as the body with ?sr=RATE)")
    async def listen(model: str, request: Request, k: int = 3, sr: int | None = None):
        classifier = model_for(model, ("listen",), "/listen").model
        if not 1 <= k <= len(classifier.labels):
            raise Refused(f"k must be between 1 and {len(classifier.labels)}, the model's labels.", 422)
        _, folder = files.new_folder()
        try:
            name, path = await _upload(request, folder)
            return await run(listening, _label, classifier, path, name, k, sr, limits.audio_seconds)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.post("/transcribe/{model}", summary="Transcribe a recording: its text and each word's start and end "
                                             "(the file as for /listen)")
    async def transcribe(model: str, request: Request, sr: int | None = None):
        recogniser = model_for(model, ("transcribe",), "/transcribe").model
        _, folder = files.new_folder()
        try:
            name, path = await _upload(request, folder)
            return await run(listening, _transcribe, recogniser, path, name, sr, limits.audio_seconds)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.websocket("/stream/{model}")
    async def stream(socket: WebSocket, model: str, sr: int | None = None, threshold: float = 0.5):
        """Binary messages of float32 PCM in (at the model's rate, or `sr`); a JSON event out as each is heard,
        as `gruve listen stream --json` prints them (a classifier's labels, or a transcriber's text as it
        grows); the text message "end" finishes the stream, answered by {"done": true, "seconds": S}."""
        await socket.accept()
        try:
            found = model_for(model, STREAMING_TASKS, "/stream")
            listener = await run(listening, _stream, found.model, sr, threshold)
        except GruveError as error:
            await socket.send_json({"error": str(error)})
            return await socket.close(code=1008)
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "end":
                    break
                if message.get("bytes") is None or len(message["bytes"]) % 4:
                    await socket.send_json({"error": "send the audio as binary messages of float32 samples, and "
                                                     "the text message \"end\" to finish."})
                    continue
                for event in await run(listening, listener.feed, message["bytes"]):
                    await socket.send_json(event)
            for event in await run(listening, listener.close):
                await socket.send_json(event)
            await socket.send_json({"done": True, "seconds": listener.seconds})
            await socket.close()
        except WebSocketDisconnect:
            return
        except GruveError as error:
            await socket.send_json({"error": str(error)})
            await socket.close(code=1003)

    @app.post("/compose/{model}",
              summary="Generate music (one piece unless 'n' says): MIDI, WAV and a piano-roll PNG, by id")
    async def compose(model: str, request: Request):
        found = model_for(model, ("compose", "pianoroll"), "/compose")
        options = _compose_options(found, _one_by_default(await _json(request)), limits)
        return await run(generating, _generate, found, options, files)

    @app.post("/synth/{model}", summary="Generate sounds (one unless 'n' says): WAV files and a picture of them")
    async def synth(model: str, request: Request):
        from gruve import synth

        found = model_for(model, ("synth",), "/synth")
        options = options_from(synth.GenerateOptions, _one_by_default(await _json(request)),
                               ("label", "n", "seconds", "temperature", "seed"), "/synth")
        _at_most(options.n, limits.pieces, "n", "--pieces")
        _at_most(options.seconds or 1.0, limits.sound_seconds, "seconds", "--sound-seconds")
        return await run(generating, _generate, found, options, files)

    @app.post("/recommend/{model}", summary="Suggest the next tracks after a listening history")
    async def recommend(model: str, request: Request):
        found = model_for(model, ("recommend",), "/recommend")
        given = await _json(request)
        history, k = (given.get("history"), given.get("k", 10)) if isinstance(given, dict) else (None, None)
        if not isinstance(history, list) or not all(isinstance(i, str) for i in history) or not history:
            raise Refused("/recommend needs {\"history\": [item ids or \"artist - track\" names, oldest first]}.", 422)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
            raise Refused("/recommend's k must be a whole number from 1 to 1000.", 422)
        return await run(listening, _suggest, found.model, history, k)

    @app.get("/files/{job}/{name}", summary="A generated file, by the id a generation gave")
    async def generated(job: str, name: str):
        path = files.find(job, name)
        if path is None:
            raise Refused("no such generated file: it was never made, or it was removed after "
                          f"{limits.keep_files:g} seconds (--keep-files).", 404)
        return FileResponse(path, media_type=GENERATED_TYPES[path.suffix])

    return Guard(app, limits, token)


def _version() -> str:
    from gruve import __version__

    return __version__


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


async def _upload(request, folder: Path) -> tuple[str, Path]:
    """Write the uploaded file (multipart's field 'file', else the body itself) into `folder` as it arrives, so
    an upload never sits in memory whole; its name as the client gave it, and where it now is."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=4)  # spooled to disk past 1 MB
        except BodyTooLarge:
            raise
        except Exception as error:  # starlette's multipart parser raises its own error types
            raise Refused(f"the upload could not be read as multipart form data ({error}).", 400) from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Refused("send the audio as the multipart field 'file', or as the request body.", 400)
        name = os.path.basename(upload.filename or "upload")
        with open(path := folder / _safe_name(name), "wb") as file:
            while chunk := await upload.read(1 << 20):
                file.write(chunk)
        return name, path
    name = os.path.basename(request.headers.get("x-filename", "upload"))
    with open(path := folder / _safe_name(name), "wb") as file:
        async for chunk in request.stream():
            file.write(chunk)
    return name, path


def _safe_name(name: str) -> str:
    """The server's own name for an upload: 'upload', with the client's suffix where it is a plain one (the
    decoders go by it)."""
    suffix = Path(name).suffix.lower()
    return "upload" + (suffix if suffix[1:].isascii() and suffix[1:].isalnum() else "")


async def _json(request) -> dict:
    body = await request.body()
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise Refused("the request body is not JSON: send the options as a JSON object.", 400) from None


def _one_by_default(given):
    """A generation makes one piece or sound unless the request says how many (`n`)."""
    return {"n": 1, **given} if isinstance(given, dict) else given


def _at_most(value, limit, option: str, flag: str) -> None:
    if value is not None and value > limit:
        raise Refused(f"{option!r} is {value:g}, more than this server's limit of {limit:g} ({flag}).", 422)


def _audio_file(path: Path, name: str, sr: int | None, max_seconds: float) -> Path:
    """The uploaded file at `path` as an audio file the capabilities read (float32 PCM at `sr` written as a
    WAV), within `max_seconds`; refused in one sentence naming the client's `name`."""
    import soundfile as sf

    if path.stat().st_size == 0:
        raise Refused(f"{name} is empty: send an audio file.", 400)
    if sr is not None:
        if not RATES[0] <= sr <= RATES[1] or path.stat().st_size % 4:
            raise Refused(f"PCM must be float32 samples (a multiple of 4 bytes) at a rate ?sr= from {RATES[0]} to "
                          f"{RATES[1]}.")
        seconds = path.stat().st_size / 4 / sr
        if seconds <= max_seconds:
            y = np.fromfile(path, "<f4")
            path = path.with_name("pcm.wav")
            sf.write(path, y, sr, subtype="FLOAT")
    else:
        try:
            seconds = sf.info(str(path)).duration
        except Exception:  # not a format soundfile reads; the decoders behind the capabilities will say what it is
            seconds = 0.0
    if seconds > max_seconds:
        raise Refused(f"{name} lasts {seconds:,.1f} seconds, more than this server's limit of {max_seconds:g} "
                      "(--audio-seconds).", 413)
    return path


def _answer(result, path: Path, name: str) -> dict:
    """The one file's answer of a `predict` or `transcribe` result, under the client's `name`, or its failure."""
    if result.failures:
        raise Refused(result.failures[0].replace(str(path), name), 400)
    answer = result.to_json()[0]
    answer["path"] = name
    return answer


def _label(classifier, path: Path, name: str, k: int, sr: int | None, max_seconds: float) -> dict:
    """`gruve listen predict --json`'s answer for one uploaded file (an audio file, or float32 PCM at `sr`)."""
    from gruve import listen

    path = _audio_file(path, name, sr, max_seconds)
    return _answer(listen.predict(classifier, path, top_k=k), path, name)


def _transcribe(recogniser, path: Path, name: str, sr: int | None, max_seconds: float) -> dict:
    """`gruve listen transcribe --json`'s answer for one uploaded file."""
    from gruve import listen

    path = _audio_file(path, name, sr, max_seconds)
    return _answer(listen.transcribe(recogniser, path), path, name)


class _Listener:
    """One WebSocket's stream: PCM bytes in (resampled to the model's rate where `sr` differs), events out."""

    def __init__(self, classifier, sr: int | None, threshold: float):
        import soxr

        from gruve import listen

        self.stream = (listen.TranscriptStream(classifier) if isinstance(classifier, listen.Transcriber)
                       else listen.Stream(classifier, threshold))
        model_sr = classifier.config.features.sr
        self.resampler = soxr.ResampleStream(sr, model_sr, 1, dtype="float32") if sr and sr != model_sr else None
        self.seconds = 0.0
        self.sr = sr or model_sr

    def feed(self, data: bytes) -> list[dict]:
        y = np.frombuffer(data, "<f4")
        self.seconds += len(y) / self.sr
        if self.resampler is not None:
            y = self.resampler.resample_chunk(y)
        return [e.to_dict() for e in self.stream.feed(y)]

    def close(self) -> list[dict]:
        tail = [] if self.resampler is None else [e.to_dict() for e in self.stream.feed(
            self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))]
        return tail + [e.to_dict() for e in self.stream.close()]


def _stream(classifier, sr: int | None, threshold: float) -> _Listener:
    check(sr is None or RATES[0] <= sr <= RATES[1], "sr", f"sr must be a sample rate from {RATES[0]} to {RATES[1]}.")
    check(0 < threshold <= 1, "threshold", "threshold must be above 0 and at most 1.")
    return _Listener(classifier, sr, threshold)


def _compose_options(found: Loaded, given: dict, limits: Limits):
    """The generation options a client sent for a token model or a piano-roll model, within the limits."""
    if found.task == "compose":
        from gruve.compose import GenerateOptions

        options = options_from(GenerateOptions, given, ("n", "bars", "tokens", "temperature", "top_k", "top_p",
                                                        "seed", "conditions", "may_end"), "/compose")
        _at_most(options.bars, limits.bars, "bars", "--bars")
        _at_most(options.tokens, limits.tokens, "tokens", "--tokens")
    else:
        from gruve.compose.pianoroll import SampleOptions

        options = options_from(SampleOptions, given, ("n", "steps", "temperature", "seed", "qpm"), "/compose")
        _at_most(options.steps, limits.steps, "steps", "--steps")
    _at_most(options.n, limits.pieces, "n", "--pieces")
    return options


def _generate(found: Loaded, options, files: Files) -> dict:
    """Run one generation into a new job folder; its files by id, and what the generation said."""
    from gruve import compose, synth
    from gruve.compose import pianoroll

    job, folder = files.new_folder()
    notes: list[str] = []
    started = time.perf_counter()
    if found.task == "compose":
        made = compose.generate(found.model, options, out=folder, say=notes.append)
        extra = {"conditions": made.conditions, "validity": made.validity}
    elif found.task == "pianoroll":
        pianoroll.sample(found.model, options, out=folder, say=notes.append)
        extra = {}
    else:
        made = synth.generate(found.model, options, out=folder)
        extra = {"sr": made.sr, "samples_per_second": made.samples_per_second}
    return {"id": job, "files": files.publish(job, folder), "notes": notes,
            "seconds": time.perf_counter() - started, **extra}


def _suggest(model, history: list[str], k: int) -> dict:
    from gruve import recommend

    notes: list[str] = []
    suggestions = recommend.suggest(model, history, k, say=notes.append)
    return {"suggestions": [s._asdict() for s in suggestions], "notes": notes}
