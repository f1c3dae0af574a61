"""`gruve serve` as a user runs it: its own process on loopback, its limits, its token, and the load test's short
form (bench/serve_load.py --quick, which also sends uploads far over the limit)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import serve_load  # noqa: E402  (bench/serve_load.py: the server launcher and the load test)
CLIP = ROOT / "examples" / "digits" / "7_jackson_1.wav"


def test_the_server_answers_and_serves_its_page(server):
    url, _ = server
    page = httpx.get(url + "/")
    assert page.status_code == 200 and "<title>gruve</title>" in page.text
    assert "http" not in page.text.split("<script>")[1].replace("https:", "")  # nothing fetched from elsewhere
    assert httpx.get(url + "/openapi.json").json()["info"]["title"] == "gruve"
    answer = httpx.post(url + "/listen/fsdd-digits", files={"file": (CLIP.name, CLIP.read_bytes())}).json()
    assert answer["answer"] == "7"


def test_requests_beyond_the_limit_in_flight_get_503_and_slow_ones_504():
    with serve_load.launch(["bach-chorales"], "--in-flight", "1", "--timeout", "1") as (url, _):
        slow = {}
        generation = threading.Thread(target=lambda: slow.update(
            response=httpx.post(url + "/compose/bach-chorales", json={"bars": 16}, timeout=30)))
        generation.start()
        while not slow and (busy := httpx.get(url + "/models")).status_code != 503:
            pass
        generation.join()
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json() == {"error": "the server is busy (1 requests in flight); try again in a second."}
        assert slow["response"].status_code == 504
        assert slow["response"].json() == {"error": "the request took longer than this server's limit of 1 "
                                                    "seconds (--timeout)."}
        assert httpx.get(url + "/models").status_code == 200


def test_a_token_is_needed_beyond_this_machine_and_checked_on_every_request():
    refused = subprocess.run([sys.executable, "-m", "gruve", "serve", "--host", "0.0.0.0"], capture_output=True,
                             text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == ("error: binding to 0.0.0.0 lets other machines in: give --token (or set "
                                      "GRUVE_TOKEN), which every request must then carry.")
    with serve_load.launch(["fsdd-digits"], "--token", "a-long-secret") as (url, _):
        assert httpx.get(url + "/models").status_code == 401
        assert httpx.get(url + "/models", headers={"Authorization": "Bearer wrong-secret"}).status_code == 401
        assert httpx.get(url + "/models", headers={"Authorization": "Bearer a-long-secret"}).status_code == 200
        assert httpx.get(url + "/models?token=a-long-secret").status_code == 200


def test_a_port_in_use_is_one_sentence_before_any_model_loads():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = subprocess.run([sys.executable, "-m", "gruve", "serve", "-m", "fsdd-digits", "--port", str(port)],
                                 capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (f"error: cannot listen on 127.0.0.1:{port} (Address already in "
                                                       "use): another server may hold it; choose another with --port.")


def test_several_worker_processes_each_answer():
    with serve_load.launch(["fsdd-digits"], "--workers", "2") as (url, process):
        assert len(serve_load.psutil.Process(process.pid).children()) >= 2
        answers = [httpx.post(url + "/listen/fsdd-digits", content=CLIP.read_bytes()).json()["answer"] for _ in range(4)]
        assert answers == ["7"] * 4


def test_the_load_test_runs_without_errors_and_refuses_big_uploads_at_once():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "serve_load.py"), "--quick"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| 40 MB")]
    assert [row[1] for row in rows] == ["413", "413"]
    for row in rows:
        before, after = (float(mb) for mb in row[3].rstrip(" |").split(", "))
        assert float(row[2]) < 1 and after - before < 10
