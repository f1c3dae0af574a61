"""The `gruve` command: one typer app per capability, mounted here, and the commands that span them.

Thin: it parses options and calls the capabilities' Python API, imported lazily so `gruve --help` and
`gruve listen predict` start fast (Lightning alone takes seconds to import).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from gruve.cli_common import MODEL_HELP, err, out
from gruve.compose.cli import app as compose
from gruve.errors import GruveError, Interrupted, OptionError
from gruve.listen.cli import app as listen
from gruve.recommend.cli import app as recommend
from gruve.synth.cli import app as synth

app = typer.Typer(help="GRU models on sound: listen (classify audio), compose (generate music), synth (generate "
                       "audio sample by sample), recommend (suggest the next tracks from listening sessions) and "
                       "serve (all of them over HTTP and in a web page).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(listen, name="listen")
app.add_typer(compose, name="compose")
app.add_typer(synth, name="synth")
app.add_typer(recommend, name="recommend")


@app.command("export")
def export_model(
    model: str = typer.Argument(..., help=MODEL_HELP),
    path: Path = typer.Argument(..., help="Where to write, e.g. digits.onnx; a streaming model also gets "
                                          "digits.stream.onnx beside it."),
):
    """Write a model as ONNX, with what it needs to run in the file's metadata. A listen model: waveform
    (batch, samples) in, class probabilities out, features inside; one that can stream also gets its
    streaming step, with its state as inputs and outputs. A compose model: one step (a token and the state
    in; the next token's logits and the state out), its tokenizer in the metadata. A piano-roll model: one
    sampling step (last frame, state and uniform noise in; next frame and state out). Each file is checked
    against the torch model with onnxruntime before it is kept."""
    from gruve import bundle
    from gruve.export import export

    for target, difference in export(bundle.load(model), path):
        out.print(f"wrote {target} (onnxruntime matches torch to {difference:.1e})", highlight=False, soft_wrap=True)



@app.command("serve")
def serve(
    model: list[str] = typer.Option([], "--model", "-m", help="A model to serve (repeat for more): " + MODEL_HELP
                                    + " Default: every shipped model."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; any other than this machine's needs --token."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Server processes, each with every model loaded."),
    token: str = typer.Option(None, envvar="GRUVE_TOKEN", help="A secret every request must carry (header "
                              "'Authorization: Bearer TOKEN', or ?token=TOKEN in the address)."),
    threads: int = typer.Option(1, help="Torch threads per model call; a classification and a generation run at "
                                        "once, each with this many."),
    upload_mb: float = typer.Option(20.0, help="Largest request body in MB; a larger one gets 413 before it is read."),
    audio_seconds: float = typer.Option(600.0, help="Longest recording /listen labels, in seconds."),
    pieces: int = typer.Option(4, help="Most pieces or sounds one generation makes."),
    bars: int = typer.Option(32, help="Most bars of a generated piece (token models)."),
    tokens: int = typer.Option(4096, help="Most tokens of a generated piece (token models)."),
    steps: int = typer.Option(512, help="Most time steps of a generated piece (piano-roll models)."),
    sound_seconds: float = typer.Option(4.0, help="Longest generated sound (synth), in seconds."),
    in_flight: int = typer.Option(64, help="Requests answered at once; more get 503 with Retry-After."),
    timeout: float = typer.Option(120.0, help="Seconds a request may take before it gets 504."),
    keep_files: float = typer.Option(3600.0, help="Seconds generated files stay downloadable."),
):
    """Serve models over HTTP and in a web page: open http://HOST:PORT/ in a browser, or call the API
    (its documentation at /docs). Upload a file to label it, stream a microphone, generate music and sounds,
    ask for suggestions; every model is loaded once, at the start."""
    from gruve.serve import Limits, ServeOptions
    from gruve.serve import serve as run_server

    limits = Limits(upload_mb=upload_mb, audio_seconds=audio_seconds, pieces=pieces, bars=bars, tokens=tokens,
                    steps=steps, sound_seconds=sound_seconds, in_flight=in_flight, timeout=timeout,
                    keep_files=keep_files)
    options = ServeOptions(models=model, host=host, port=port, workers=workers, token=token, threads=threads,
                           limits=limits)
    err.print(f"loading {', '.join(model) if model else 'every shipped model'}; then open http://{host}:{port}/",
              highlight=False)
    run_server(options)


@app.command("models")
def models():
    """List the pretrained models shipped with gruve, with what they do and how well."""
    from gruve import bundle

    table = Table("name", "task", "what", "test score", "trained on")
    for name in bundle.pretrained_names():
        meta, _ = bundle.read(name)
        what, score = bundle.model_class(meta["task"]).describe(meta)
        table.add_row(name, meta["task"], what, score, meta["training"].get("corpus", meta["training"]["data"]))
    out.print(table)


def main() -> None:
    """Run the app; a GruveError becomes one sentence on stderr and exit code 1, never a traceback."""
    any_file_name()
    try:
        app()
    except OptionError as error:
        err.print(error_line(error.render(flag_of(sys.argv[1:]))), highlight=False)
        sys.exit(1)
    except Interrupted as stopped:
        err.print(str(stopped), highlight=False)
        sys.exit(stopped.exit_code)
    except GruveError as error:
        err.print(error_line(str(error)), highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def error_line(message: str) -> Text:
    """`error: MESSAGE`, the message as it is: a file named `take [2].wav` is not read as rich markup."""
    return Text.assemble(("error:", "bold red"), " ", message)


def any_file_name() -> None:
    """Let any file name be printed. A Linux file name may be bytes that are not UTF-8 (Python holds them as
    surrogates): standard output writes them as the bytes they are, as `ls` does, so a path printed in a
    table or CSV row is the file's; standard error, for people, shows them as escapes (`bad\\udcff.wav`)."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=errors)


def flag_of(args: list[str]):
    """How the command that `args` invoked names an option field: the flag of its parameter of that name
    (`out_dir` is `--out`), else the field's own name as a flag (`top_p` is `--top-p`)."""
    command = typer.main.get_command(app)
    for arg in args:
        if arg not in getattr(command, "commands", {}):  # typer's groups are not click.Group subclasses
            break
        command = command.commands[arg]
    flags = {param.name: param.opts[0] for param in getattr(command, "params", []) if param.opts}

    def flag(field: str) -> str:
        return flags.get(field, "--" + field.replace("_", "-"))

    return flag


def run() -> None:
    """The console entry point: `main`, then an immediate exit once output is flushed.

    Tearing down an interpreter that has imported torch takes 0.3-0.6 s on a 2-core machine, a quarter
    of a cold `gruve listen predict`; every file gruve writes is complete (and atomic) before this point.
    A SIGTERM (`kill`, `timeout`, a batch system's preemption) ends gruve as Ctrl-C does, through every
    `finally`: temporary files removed, a run folder's lock released, a training's best model saved.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)

