"""`gruve serve` under load on loopback: clients posting a 1 s clip to /listen, alone and beside generations.

Starts a real server (`gruve serve`, its own process), then for each scenario runs CLIENTS concurrent clients,
each posting the clip and waiting for the answer, for SECONDS; prints the requests answered per second, the
p50 and p99 latency, the errors, and the server's resident memory before and after. Beside them: the same clip
classified in a loop through the Python API in one process (the throughput the server is held to), and a
200 MB upload, with and without a Content-Length, which must be refused in under a second without the server
growing. Exits 1 if any request failed.
Usage: .venv/bin/python bench/serve_load.py [--clients 32] [--seconds 30] [--workers 1] [--model fsdd-digits] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "digits" / "7_jackson_1.wav"
MB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launch(models: list[str], *options: str, start_seconds: float = 120):
    """A `gruve serve` of `models` on a free loopback port, its own process; yields its URL and process."""
    port = free_port()
    command = [sys.executable, "-m", "gruve", "serve", "--port", str(port), *options]
    for model in models:
        command += ["--model", model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gruve serve ended with code {process.returncode}: {process.stderr.read()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/models", timeout=1).status_code in (200, 401):  # up (401: it wants its token)
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gruve serve did not answer within {start_seconds:g} s")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def one_second_clip() -> bytes:
    """examples/digits/7_jackson_1.wav padded with silence to 1 s, as WAV bytes."""
    y, sr = sf.read(CLIP, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, np.pad(y, (0, max(0, sr - len(y)))), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


async def _client(http: httpx.AsyncClient, path: str, body: bytes, until: float, latencies: list, errors: list):
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            response = await http.post(path, content=body, headers={"x-filename": "clip.wav"})
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text}")
                continue
        except httpx.HTTPError as error:
            errors.append(repr(error))
            continue
        latencies.append(time.perf_counter() - started)


def load(url: str, path: str, body: bytes, clients: int, seconds: float) -> tuple[list[float], list[str]]:
    """`clients` concurrent clients posting `body` to `path` for `seconds`: each answer's latency, and the errors."""
    latencies: list[float] = []
    errors: list[str] = []

    async def run():
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            until = time.monotonic() + seconds
            await asyncio.gather(*(_client(http, path, body, until, latencies, errors) for _ in range(clients)))

    asyncio.run(run())
    return latencies, errors


@contextlib.contextmanager
def generating_beside(url: str, model: str):
    """Generations posted to /compose one after another on a thread, until the block ends; yields their count."""
    done = threading.Event()
    made = [0]

    def keep_generating():
        with httpx.Client(base_url=url, timeout=300) as http:
            while not done.is_set():
                response = http.post(f"/compose/{model}", json={"n": 1, "bars": 8})
                response.raise_for_status()
                made[0] += 1

    thread = threading.Thread(target=keep_generating, daemon=True)
    thread.start()
    time.sleep(0.5)  # the first generation is under way
    try:
        yield made
    finally:
        done.set()
        thread.join(300)


def in_process_rate(model: str, body: bytes, seconds: float) -> float:
    """Clips per second through `gruve.listen.predict` in a loop, in a process of its own on one thread."""
    code = f"""
import sys, time, tempfile, torch
torch.set_num_threads(1)
from gruve import listen, load
model = load({model!r})
path = tempfile.mktemp(suffix=".wav")
open(path, "wb").write(sys.stdin.buffer.read())
listen.predict(model, path)
count, until = 0, time.monotonic() + {seconds}
while time.monotonic() < until:
    listen.predict(model, path)
    count += 1
print(count / {seconds})
"""
    done = subprocess.run([sys.executable, "-c", code], input=body, capture_output=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return float(done.stdout)


def refuse_upload(url: str, model: str, megabytes: int, with_length: bool) -> tuple[float, int]:
    """Send a `megabytes` upload as fast as the server takes it: seconds until its answer, and its status."""
    host, port = url.removeprefix("http://").split(":")
    head = (f"POST /listen/{model} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
            + (f"Content-Length: {megabytes * MB}\r\n" if with_length else "Transfer-Encoding: chunked\r\n")
            + "\r\n").encode()
    chunk = b"\0" * MB if with_length else b"%x\r\n" % MB + b"\0" * MB + b"\r\n"
    started = time.perf_counter()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(head)

        def send_body():  # until all is sent, or the server has answered and closed the connection
            with contextlib.suppress(OSError):
                for _ in range(megabytes):
                    connection.sendall(chunk)

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        connection.settimeout(30)
        answer = connection.recv(65536)
        seconds = time.perf_counter() - started
        with contextlib.suppress(OSError):  # the server may have closed it already
            connection.shutdown(socket.SHUT_RDWR)
    sender.join(30)
    status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return seconds, status


def rss_mb(process: subprocess.Popen) -> float:
    """The server's resident memory, its worker processes included."""
    server = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [server, *server.children(recursive=True)]) / MB


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--model", default="fsdd-digits")
    parser.add_argument("--composer", default="bach-chorales", help="the model generating beside the clients")
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="server processes (gruve serve --workers)")
    parser.add_argument("--quick", action="store_true", help="8 clients for 3 s each, a 40 MB upload")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.upload_mb = 8, 3, 40
    body = one_second_clip()
    rate = in_process_rate(args.model, body, args.seconds)
    print(f"{args.model}, a 1 s clip ({len(body):,} bytes), {args.clients} clients for {args.seconds:g} s each, "
          f"{args.workers} server process(es), {os.cpu_count()} cores\n")
    print("| scenario | answered | per second | of the in-process rate | p50 ms | p99 ms | errors | server MB before, after |")
    print("|---|---|---|---|---|---|---|---|")
    failed = 0
    with launch([args.model, args.composer], "--workers", str(args.workers)) as (url, process):
        load(url, f"/listen/{args.model}", body, args.clients, 1)  # warm up
        for scenario in ("listen alone", f"beside {args.composer} generating"):
            before = rss_mb(process)
            with generating_beside(url, args.composer) if "beside" in scenario else contextlib.nullcontext([0]) as made:
                latencies, errors = load(url, f"/listen/{args.model}", body, args.clients, args.seconds)
            per_second = len(latencies) / args.seconds
            failed += len(errors)
            extra = f" ({made[0]} generations)" if "beside" in scenario else ""
            print(f"| {scenario}{extra} | {len(latencies):,} | {per_second:,.0f} | {per_second / rate:.0%} | "
                  f"{percentile(latencies, 50) * 1000:.1f} | {percentile(latencies, 99) * 1000:.1f} | {len(errors)} | "
                  f"{before:,.0f}, {rss_mb(process):,.0f} |")
            for error in errors[:3]:
                print(f"  error: {error}")
        print(f"\nthe Python API in a loop, one process, one thread: {rate:,.0f} clips per second "
              f"(median latency {1000 / rate:.1f} ms)\n")
        print("| upload | answer | seconds | server MB before, after |\n|---|---|---|---|")
        for with_length in (True, False):
            before = rss_mb(process)
            seconds, status = refuse_upload(url, args.model, args.upload_mb, with_length)
            failed += status != 413
            print(f"| {args.upload_mb} MB, {'Content-Length' if with_length else 'chunked'} | {status} | "
                  f"{seconds:.3f} | {before:,.0f}, {rss_mb(process):,.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
