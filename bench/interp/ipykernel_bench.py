#!/usr/bin/python3
"""The ipykernel side of bench/interp: jupyter_client's BlockingKernelClient driving a local ipykernel.

Prints one JSON object: rtt_p50_ms / rtt_p99_ms (`x = 1` until the kernel reports idle, as the code
interpreter's end_of_execution), cold_start_p50_ms (start_kernel -> first execute reply), pss_mib (the idle
kernel process, /proc/<pid>/smaps_rollup) and print_mb_per_s (a cell printing 10 MB).
Usage: ipykernel_bench.py [ITERATIONS]
"""
import json
import os
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets debugpy start-up warnings


def run_cell(kc, code, on_stream=None):
    msg_id = kc.execute(code, store_history=False)
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream" and on_stream:
            on_stream(msg["content"]["text"])
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    kc.get_shell_msg(timeout=60)  # the execute_reply


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, len(values) * q // 100)]


def pss_mib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return -1


def cold_starts(samples):
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        run_cell(kc, "x = 1")
        times.append((time.perf_counter() - t0) * 1000)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    out = {"cold_start_p50_ms": cold_starts(5)}
    km, kc = start_new_kernel(kernel_name="python3")
    for _ in range(50):
        run_cell(kc, "x = 1")
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        run_cell(kc, "x = 1")
        times.append((time.perf_counter() - t0) * 1000)
    out["rtt_p50_ms"] = percentile(times, 50)
    out["rtt_p99_ms"] = percentile(times, 99)
    time.sleep(1)
    out["pss_mib"] = pss_mib(km.provisioner.process.pid)
    received = [0]
    t0 = time.perf_counter()
    run_cell(kc, "import sys\nsys.stdout.write('x' * 10_000_000)\nsys.stdout.flush()",
             lambda text: received.__setitem__(0, received[0] + len(text)))
    out["print_mb_per_s"] = received[0] / 1e6 / (time.perf_counter() - t0)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
