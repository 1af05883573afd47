# One-line entry points. Every target builds its own virtual environment from setup.cfg.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Real ImageNet VGG16 weights for the loss network when the shared folder has them.
SHARED_VGG := $(firstword $(wildcard ../shared/weights/*.weights.h5))
ifneq ($(SHARED_VGG),)
export PURIFY_VGG_WEIGHTS ?= $(abspath $(SHARED_VGG))
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

# The quick suite runs on one pytest worker per core (pytest-xdist), at most four: a single pytest process
# keeps about one core busy (tracing and building models is Python), and idle workers take tests queued
# on busy ones (worksteal: a few tests take 10-30 s, most well under one).
TEST_WORKERS ?= -n auto --maxprocesses=4 --dist worksteal

.PHONY: venv test slow demo report pretrained bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow" $(TEST_WORKERS)

slow: $(STAMP)
	$(PY) -m pytest -q -m slow

REAL_CROPS := $(wildcard ../shared/data/mpiigaze-55x35)
REAL_GAZE := $(wildcard ../shared/data/mpiigaze-gaze)
TRAIN_SUBJECTS := p00,p01,p02,p03,p04# the real-gaze table's training subjects (the first half)

# With the labelled MPIIGaze subjects in ../shared, the demo's purifier is also written centred on
# the unlabelled eyes of the real-gaze table's training subjects (p00-p04), as the shipped one is;
# then, as the shipped one, flip-symmetric (runs/demo/purifier_symmetric.keras).
DEMO_SHIPPED := runs/demo/$(if $(REAL_GAZE),purifier_centred,purifier).keras
demo: $(STAMP)
	$(PY) -m trainers.purify --flagfile=configs/demo.flags
	$(if $(REAL_GAZE),$(PY) -m purify_tf.cli centre --model=runs/demo/purifier.keras --eyes=$(REAL_GAZE) \
		--subjects=$(TRAIN_SUBJECTS) --out=runs/demo/purifier_centred.keras)
	$(PY) -m purify_tf.cli symmetric --model=$(DEMO_SHIPPED) --out=runs/demo/purifier_symmetric.keras

report: $(STAMP)
	$(PY) -m trainers.report --flagfile=configs/report.flags

# Train the shipped purifier, score it (renderer, real crops, and the real-eye gaze table when the
# labelled MPIIGaze subjects are in ../shared), centre its front end on the unlabelled eyes of the
# table's training subjects when they are there, make f_W flip-symmetric, and write it into the package.
pretrained: $(STAMP)
	$(PY) -m trainers.purify --flagfile=configs/pretrained.flags
	$(PY) -m export.pretrained --model=runs/pretrained/purifier.keras \
		--command="make pretrained" $(if $(REAL_CROPS),--real_dir=$(REAL_CROPS)) \
		$(if $(REAL_GAZE),--real_gaze_dir=$(REAL_GAZE) --centre_dir=$(REAL_GAZE)) --flip_symmetric

# The peers (PyTorch, ONNX Runtime, OpenVINO) for the benchmark's comparison; never needed by tests.
PEERS_STAMP := $(VENV)/.peers-stamp
$(PEERS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,peers]'
	touch $(PEERS_STAMP)

bench: $(PEERS_STAMP)
	$(PY) -m benchmarks.run_all

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) runs build *.egg-info
