"""Renderer throughput (images/s) per domain and size, in this process (pin it to one core
with ``taskset -c 0`` to measure single-core speed).

    taskset -c 0 python benchmarks/bench_renderer.py
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402

from purify_tf.data.renderer import render_eyes  # noqa: E402


def measure(n: int, height: int, width: int, domain: str, repeats: int = 3) -> float:
    """Best-of-``repeats`` images per second for rendering ``n`` images."""
    render_eyes(min(n, 16), height, width, domain, seed=0)  # warm up
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        render_eyes(n, height, width, domain, seed=r + 1)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64x96,256x256", help="comma-separated HxW")
    parser.add_argument("--images", type=int, default=0, help="images per run (0: by size)")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    print(f"cpu affinity: {sorted(os.sched_getaffinity(0))}, opencv threads: {args.threads}")
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.lower().split("x"))
        n = args.images or max(32, int(3_000_000 // (h * w)))
        for domain in ("synthetic", "real"):
            print(f"{h}x{w} {domain:9s} {measure(n, h, w, domain):8.0f} images/s  (n={n})")


if __name__ == "__main__":
    main()
