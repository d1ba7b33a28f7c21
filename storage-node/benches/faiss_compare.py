#!/usr/bin/env python3
"""Single-query latency of sutra-storage against FAISS IndexFlatIP on the same data.

Usage (from the repository root):
    pip install faiss-cpu==1.15.1 numpy
    python3 storage-node/benches/faiss_compare.py [--n 1000000] [--dim 768] [--queries 16]

Writes the dataset once under target/faiss-compare/, runs FAISS single-threaded, then runs
`cargo bench -p sutra-storage --bench faiss_pair` (our engine, one thread, the same data and
queries: first as f32, then reopened with compression, whose exact search must return the
same ids), checks both engines returned the same neighbours and prints a Markdown table.
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import faiss
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_dataset(directory, n, dim, queries, seed):
    meta_path = directory / "meta.json"
    wanted = {"n": n, "dim": dim, "queries": queries, "seed": seed}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in wanted.items()):
            return
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Clustered data, the shape of real embeddings: 1000 centres plus noise.
    centres = rng.uniform(-1, 1, size=(1000, dim)).astype(np.float32)
    with open(directory / "base.f32", "wb") as out:
        for start in range(0, n, 100_000):
            rows = min(100_000, n - start)
            assign = rng.integers(0, len(centres), size=rows)
            block = centres[assign] + rng.uniform(-0.4, 0.4, size=(rows, dim)).astype(np.float32)
            out.write(block.astype("<f4").tobytes())
    picks = rng.integers(0, n, size=queries)
    base = np.memmap(directory / "base.f32", dtype="<f4", mode="r", shape=(n, dim))
    q = base[picks] + rng.uniform(-0.2, 0.2, size=(queries, dim)).astype(np.float32)
    q.astype("<f4").tofile(directory / "queries.f32")
    # Drop a stale store built from other data.
    store = directory / "store"
    if store.exists():
        subprocess.run(["rm", "-rf", str(store)], check=True)
    meta_path.write_text(json.dumps(wanted))


def run_faiss(directory, n, dim, queries, k, repeats):
    faiss.omp_set_num_threads(1)
    base = np.fromfile(directory / "base.f32", dtype="<f4").reshape(n, dim)
    q = np.fromfile(directory / "queries.f32", dtype="<f4").reshape(queries, dim)
    index = faiss.IndexFlatIP(dim)
    index.add(base)
    latencies, ids = [], []
    for row in q:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            _, found = index.search(row.reshape(1, dim), k)
            best = min(best, time.perf_counter() - started)
        latencies.append(best)
        ids.append(found[0].tolist())
    return latencies, ids


def run_ours(directory, n, dim, queries, k, repeats):
    meta = json.loads((directory / "meta.json").read_text())
    meta.update({"k": k, "repeats": repeats})
    (directory / "meta.json").write_text(json.dumps(meta))
    env = dict(os.environ, FAISS_DIR=str(directory))
    subprocess.run(
        ["cargo", "bench", "-q", "-p", "sutra-storage", "--bench", "faiss_pair"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return json.loads((directory / "ours.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    directory = ROOT / "target" / "faiss-compare" / f"n{args.n}-d{args.dim}"
    write_dataset(directory, args.n, args.dim, args.queries, args.seed)
    ours = run_ours(directory, args.n, args.dim, args.queries, args.k, args.repeats)
    ours_lat, ours_ids, isa = ours["latency_seconds"], ours["ids"], ours["kernels"]
    faiss_lat, faiss_ids = run_faiss(directory, args.n, args.dim, args.queries, args.k, args.repeats)

    overlap = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ours_ids, faiss_ids)])
    ours_ms = 1000 * float(np.median(ours_lat))
    faiss_ms = 1000 * float(np.median(faiss_lat))
    int8_ms = 1000 * float(np.median(ours["compressed_latency_seconds"]))
    reranked = ours["compressed_reranked_per_query"]
    print(f"\nCPU: {cpu_model()}; N={args.n}, dim={args.dim}, k={args.k}, "
          f"{args.queries} queries, best of {args.repeats} each, one thread; faiss {faiss.__version__}")
    print("| engine | median single-query latency | vectors/s |")
    print("| --- | --- | --- |")
    print(f"| sutra-storage ({isa}) | {ours_ms:.1f} ms | {args.n / (ours_ms / 1000):,.0f} |")
    print(f"| FAISS IndexFlatIP | {faiss_ms:.1f} ms | {args.n / (faiss_ms / 1000):,.0f} |")
    print(f"| ratio (FAISS / ours, > 1 means we are faster) | {faiss_ms / ours_ms:.2f} | |")
    print(f"| sutra-storage with compression: int8 pass with bounds, then f32 "
          f"({reranked:,.0f} re-ranked per query; same ids as f32) | {int8_ms:.1f} ms "
          f"| {args.n / (int8_ms / 1000):,.0f} |")
    print(f"| ratio (FAISS / ours with compression) | {faiss_ms / int8_ms:.2f} | |")
    print(f"| top-{args.k} agreement with FAISS | {overlap:.4f} | |")
    if overlap < 0.99:
        print("error: the two engines disagree on the neighbours", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
