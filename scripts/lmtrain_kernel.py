"""Asks the lmtrain binary which GEMM micro-kernel it uses on this CPU."""
from bench_common import lmtrain_json


def gemm_kernel_name():
    return lmtrain_json(["bench", "gemm", "--m", "8", "--k", "8", "--n", "8", "--repeats", "1", "--warmup", "0"]).get("kernel_variant", "?")
