#!/usr/bin/env python3
"""Interleaved benchmark of magpie's system-matrix solvers against the numpy baseline (issue 12).

Runs, alternately and `--rounds` times, magpie's `kernel_bench` example (JSON on stdout) and the numpy/scipy
yardstick `perf_baseline.py` (JSON on stdout), records each child's peak RSS, saves every JSON in `--out`, and
prints a Markdown table: frames/s (median over rounds of each run's median), % of the streaming and GEMM bounds
measured by the baseline in the same run, ratio to numpy, peak memory, and whether issue 12's targets are met.

Called by scripts/bench_reco.sh, which builds the Rust side and creates the Python venv; standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_child(cmd, cwd=None):
    """Runs cmd, returns (parsed JSON of stdout, peak RSS in bytes, wall seconds)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=cwd)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {p.returncode}")
    return json.loads(out), ru.ru_maxrss * 1024, time.perf_counter() - t0


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    return "–" if x is None else f"{x:.{nd}f}"


def pct(x):
    return "–" if x is None else f"{100 * x:.0f} %"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="python with numpy, scipy, threadpoolctl")
    ap.add_argument("--baseline", default="../shared/bench/perf_baseline.py", help="path of perf_baseline.py")
    ap.add_argument("--magpie", required=True, help="path of the built kernel_bench binary")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="run the baseline's full suite (adds numpy CGNR; slow)")
    ap.add_argument("--out", default="target/bench-reco")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    mag_cmd = [args.magpie, "--threads", str(args.threads), "--repeats", str(args.repeats)]
    np_cmd = [args.python, args.baseline, "--repeats", str(args.repeats), "--threads", f"1,{args.threads}"]
    if args.full:
        np_cmd += ["--no-naive-batched"]
    else:
        np_cmd += ["--quick"]
    mags, nps = [], []
    for r in range(args.rounds):
        for name, cmd, store in (("magpie", mag_cmd, mags), ("numpy", np_cmd, nps)):
            log(f"[round {r + 1}/{args.rounds}] {name}: {' '.join(cmd)}")
            d, rss, wall = run_child(cmd)
            d["peak_rss_child_bytes"] = rss
            d["wall_s"] = wall
            with open(os.path.join(args.out, f"{name}_{r + 1}.json"), "w") as f:
                json.dump(d, f, indent=1)
            store.append(d)

    t = args.threads

    def mag(key, field="frames_per_s_median"):
        return med([d["results"].get(key, {}).get(field) for d in mags])

    def npk(keys, field="frames_per_s_median"):
        # per round: the faster variant (as the baseline's README says), then the median over rounds
        vals = []
        for d in nps:
            got = [d["results"][k][field] for k in keys if k in d["results"]]
            vals.append(max(got) if got else None)
        return med(vals)

    def bound(name, field):
        return med([(d.get("bounds") or {}).get(name, {}).get(field) for d in nps])

    k1 = [k for k in mags[0]["results"] if k.startswith("kaczmarz1")]
    kb = [k for k in mags[0]["results"] if k.startswith("kaczmarzB")]
    rows = []
    fb1_typ, fb1_opt = bound("typical", "frames_per_s_bound_1frame"), bound("optimistic", "frames_per_s_bound_1frame")
    fbB_typ, fbB_opt = bound("typical", "frames_per_s_bound_batched"), bound("optimistic", "frames_per_s_bound_batched")
    frames = mags[0]["problem"]["F"]
    rss = med([d["peak_rss_child_bytes"] for d in mags])
    np_rss = med([d["peak_rss_child_bytes"] for d in nps])
    checks = []
    if k1:
        f = mag(k1[0])
        n = npk([f"kaczmarz1_blocked_np_k64_t{t}", f"kaczmarz1_blocked_blas_k64_t{t}"])
        rows.append(("Kaczmarz 3 sweeps, 1 frame", k1[0], f, n, fb1_typ, fb1_opt, None))
        checks += [("1 frame ≥ 46.4 frames/s", f is not None and f >= 46.4),
                   ("1 frame ≥ 75 % of the streaming bound (typical)", None not in (f, fb1_typ) and f >= 0.75 * fb1_typ),
                   ("1 frame ≥ 1.25 × numpy", None not in (f, n) and f >= 1.25 * n)]
    if kb:
        f = mag(kb[0])
        n = npk([f"kaczmarzB_blocked_np_k256_t{t}", f"kaczmarzB_blocked_blas_k256_t{t}"])
        rows.append((f"Kaczmarz 3 sweeps, {frames} frames", kb[0], f, n, None, None, (fbB_typ, fbB_opt)))
        checks += [(f"{frames} frames ≥ 75 % of the cGEMM bound (typical)",
                    None not in (f, fbB_typ) and f >= 0.75 * fbB_typ),
                   (f"{frames} frames ≥ 1.1 × numpy", None not in (f, n) and f >= 1.1 * n)]
    for key, npkey, label in ((f"cgnr1_t{t}", f"cgnr1_t{t}", "CGNR 10 it, 1 frame"),
                              (f"cgnrB_t{t}", f"cgnrB_t{t}", f"CGNR 10 it, {frames} frames")):
        f = mag(key)
        if f is None:
            continue
        n = npk([npkey])
        rows.append((label, key, f, n, None, None, None))
        checks.append((f"{label} ahead of numpy", None if n is None else f > n))

    print(f"Problem: {mags[0]['problem']['M']} × {mags[0]['problem']['N']} complex64 "
          f"({mags[0]['problem']['S_bytes'] / 1e6:.0f} MB), λ = {mags[0]['problem']['lambda']} relative, "
          f"{t} threads, {args.rounds} interleaved rounds, medians of {args.repeats} repeats each.\n")
    print("| Solver | magpie frames/s | numpy frames/s | ratio | % streaming bound (typ / opt) "
          "| % cGEMM bound (typ / opt) |")
    print("|---|---|---|---|---|---|")
    for label, key, f, n, st, so, gb in rows:
        ratio = None if None in (f, n) else f / n
        s_pct = "" if st is None else f"{pct(f / st)} / {pct(f / so)}"
        g_pct = "" if gb is None or None in gb else f"{pct(f / gb[0])} / {pct(f / gb[1])}"
        print(f"| {label} (`{key}`) | {fmt(f)} | {fmt(n)} | {fmt(ratio, 2)} | {s_pct} | {g_pct} |")
    print()
    bw_t = bound("typical", "read_bandwidth_GBps")
    bw_o = bound("optimistic", "read_bandwidth_GBps")
    pk_t = bound("typical", "cgemm_GFLOPs")
    pk_o = bound("optimistic", "cgemm_GFLOPs")
    print(f"Bounds from the baseline in the same run (median over rounds): streaming {fmt(bw_t)} GB/s typical, "
          f"{fmt(bw_o)} GB/s optimistic → {fmt(fb1_typ)} / {fmt(fb1_opt)} frames/s for one frame; cGEMM "
          f"{fmt(pk_t, 0)} / {fmt(pk_o, 0)} GFLOP/s → {fmt(fbB_typ)} / {fmt(fbB_opt)} frames/s for {frames} frames.")
    print(f"Peak RSS: magpie kernel_bench {rss / 1e6:.0f} MB (S itself {mags[0]['problem']['S_bytes'] / 1e6:.0f} MB, "
          f"plus the problem's data and the Gram triangles); numpy baseline {np_rss / 1e6:.0f} MB.")
    fs = [d["results"] for d in nps]
    foreign = [v.get("foreign_cpu_share") for r in fs for v in r.values() if isinstance(v, dict)]
    foreign = [x for x in foreign if x is not None]
    if foreign:
        print(f"Baseline's foreign CPU share: median {statistics.median(foreign):.3f}, max {max(foreign):.3f}.")
    print("\n| Target (issue 12) | met |\n|---|---|")
    for label, ok in checks:
        print(f"| {label} | {'n/a (numpy CGNR needs --full)' if ok is None else ('yes' if ok else 'no')} |")


if __name__ == "__main__":
    main()
