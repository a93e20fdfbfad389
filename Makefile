# brandmatch: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# pytest workers (the CI machine has 2 cores)
WORKERS ?= 2

.PHONY: install demo demo-real test bench scale clean

install: $(STAMP)

# Torch first, pinned to the CPU wheel on this machine's disk: a looser requirement would pull a
# multi-GB CUDA build. Then the package with its pinned dependencies and the test tools.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,serve,ray]'
	@# WordNet 3.0 database files (the concept hierarchy of the attribute view), from Debian
	test -f /usr/share/wordnet/index.noun || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base; }
	@# Chromium for the web app's browser tests (Playwright drives it; no browser download)
	test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/brandmatch demo

demo-real: $(STAMP)
	$(BIN)/brandmatch demo --data mir

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) tests

# Speed and memory, as ratios against references measured in the same run (not tests).
BENCH_DIR ?= build/bench
# influencer vectors of the index benchmark: 1,000,000 with exact and IVF search on both workloads;
# HNSW (its graph takes over 30 minutes to build at 1,000,000 on 2 cores) at BENCH_HNSW_N
BENCH_INDEX_N ?= 1000000
BENCH_HNSW_N ?= 200000
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_threads.py
	@# serving benchmarks run on the demo's synthetic paper world and its plus model
	test -f data/models/synthetic-paper-plus/config.json || $(BIN)/brandmatch demo --data synthetic
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_index.py --n $(BENCH_INDEX_N) --approx ivf --workload model --out benchmarks/results/index-model.json
	$(BIN)/python benchmarks/bench_index.py --n $(BENCH_INDEX_N) --approx ivf --workload gaussian --nprobe 256,512,1024,2048 --out benchmarks/results/index-gaussian.json
	$(BIN)/python benchmarks/bench_index.py --n $(BENCH_HNSW_N) --approx hnsw --out benchmarks/results/index-hnsw.json
	$(BIN)/python benchmarks/bench_synthetic.py --large-influencers 20000
	test -f $(BENCH_DIR)/paper/manifest.json || $(BIN)/brandmatch generate --preset paper --seed 0 --out $(BENCH_DIR)/paper --force
	$(BIN)/python benchmarks/bench_featurize.py $(BENCH_DIR)/paper
	$(BIN)/python benchmarks/summary.py

# The million-influencer run (benchmarks/scale.py): generate with audiences -> featurize on Ray -> train
# the default recipe on a sample of brands -> embed every influencer + index (projected from 200,000
# influencers, IVF from 10,000) -> recommend; wall time,
# peak memory and throughput per stage in benchmarks/results/scale.json (docs/performance.md).
# A quick check: make scale SCALE_N=20000
SCALE_N ?= 1000000
SCALE_POSTS ?= 10
SCALE_DIR ?= build/scale
scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --influencers $(SCALE_N) --posts $(SCALE_POSTS) --out $(SCALE_DIR)
	@# after the timed run: the projected index's recall against an exact scan (from 200,000 influencers)
	if grep -q '"kind": "projected"' $(SCALE_DIR)/index/manifest.json; then \
	  $(BIN)/python benchmarks/bench_projected.py --model-dir $(SCALE_DIR)/model --data $(SCALE_DIR)/data \
	    --index-dir $(SCALE_DIR)/index --brands 3 --out benchmarks/results/projected.json; fi
	$(BIN)/python benchmarks/summary.py

clean:
	rm -rf $(VENV) data reports build .pytest_cache
