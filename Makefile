# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build of torch where there is no NVIDIA GPU: the local wheel if pip can see one, else PyTorch's CPU index.
TORCH_CPU := torch==2.13.0+cpu
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: setup system demo test clean

setup: system $(STAMP)

# FluidSynth and a General MIDI soundfont turn generated MIDI into WAV; Chromium runs the web page's tests
# (Playwright drives it, and never downloads a browser). Without FluidSynth compose still writes MIDI and says
# so, and without Chromium the page's tests are skipped, so a failed install here is a note, not an error.
system:
	@missing=""; \
	command -v fluidsynth >/dev/null 2>&1 && ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1 \
		|| missing="fluidsynth fluid-soundfont-gm"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		($$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing) \
		|| echo "note: $$missing could not be installed: compose writes MIDI but no WAV without FluidSynth, and the page's browser tests need Chromium"; \
	else \
		echo "note: install FluidSynth, a General MIDI soundfont and Chromium (e.g. brew install fluid-synth chromium) to hear compose's music and run the page's tests"; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gruve needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if command -v nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/pip install torch; \
	else \
		$(BIN)/pip install "$(TORCH_CPU)" || $(BIN)/pip install torch --index-url $(TORCH_CPU_INDEX); \
	fi
	$(BIN)/pip install -e ".[test]"
	$(BIN)/python -c "from gruve.nn.fused import compile_kernels; compile_kernels()"
	touch $(STAMP)

demo: setup
	$(BIN)/gruve models
	$(BIN)/gruve listen predict fsdd-digits examples/digits -k 2
	$(BIN)/gruve listen predict fsdd-speakers examples/digits
	$(BIN)/gruve listen transcribe fsdd-transcribe examples/digits/sequence_2_0_4_8_6.wav
	$(BIN)/gruve listen predict esc10 examples/esc10 -k 2
	$(BIN)/gruve compose pianoroll sample jsb-gru-nade --n 2 --steps 32 --out runs/demo-chorales
	$(BIN)/gruve compose generate bach-chorales --out runs/demo-bach
	$(BIN)/gruve compose generate groove-drums --condition style=funk,beat_type=beat --bars 8 --out runs/demo-groove
	$(BIN)/gruve synth generate drums --label snare --n 4 --out runs/demo-drums
	$(BIN)/gruve listen stream fsdd-digits --input examples/digits/sequence_2_0_4_8_6.wav
	$(BIN)/gruve export fsdd-digits runs/demo-export/fsdd-digits.onnx
	$(BIN)/gruve recommend suggest 30music --history 287922,288110 -k 5

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
