#!/usr/bin/env python3
"""Mutation fuzzing of magpie's MDF reader (issue 13).

Each mutant of a small seed MDF file is run through `magpie inspect --check` and `magpie reconstruct` in a child
process with a watchdog (hang = no exit within --timeout seconds) and an address-space limit (RLIMIT_AS,
--as-limit-mb), and its outcome is classified:

* ok       exit 0 (accepted), 1 (clear error) or 3 (check failed)
* signal   killed by a signal (a crash that reached the user)
* panic    exit 101 or "panicked" on stderr
* alloc    "memory allocation of … failed" or a refused mmap under the address-space limit
* hang     still running after the timeout
* other    any other exit code

Inputs that are not `ok` are kept in --keep (default target/fuzz/findings) with the command and stderr, so that
they can become regression fixtures. Only the standard library is needed; mutations are deterministic for a
seed (`--seed`), so a campaign can be repeated and run for longer by hand:

    python3 scripts/fuzz_mdf.py --mutants 20000 --jobs 2
    python3 scripts/fuzz_mdf.py --mutants 200 --seeds tests/fixtures/sm_ffa_bg.mdf --no-supervisor

By default magpie's own child-process supervision is on (what users get); `--no-supervisor` fuzzes the raw
reader (MAGPIE_NO_SUPERVISOR=1) to find the inputs that crash libhdf5 itself.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEEDS = [
    "tests/fixtures/meas_td_int16.mdf",
    "tests/fixtures/meas_fd_c64_fixedstr.mdf",
    "tests/fixtures/sm_ffa_bg.mdf",
    "tests/fixtures/sm_dct2.mdf",
    "tests/fixtures/v201_td_f64.mdf",
    "tests/fixtures/reco_f32.mdf",
    "tests/fixtures/v20_sm.mdf",
    "tests/fixtures/v20_meas_td_f32.mdf",
]
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**62 + 1, 2**64 - 1]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four mutations: bit flips, random bytes, interesting little-endian integers, chunk copies,
    truncation. HDF5 metadata (superblock, object headers, heaps) sits in the first few kB of small files, so
    positions are drawn from the first 4 kB more often."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = len(b)
        if n == 0:
            break
        pos = rng.randrange(min(n, 4096)) if rng.random() < 0.7 else rng.randrange(n)
        kind = rng.random()
        if kind < 0.35:
            b[pos] ^= 1 << rng.randrange(8)
        elif kind < 0.55:
            b[pos] = rng.randrange(256)
        elif kind < 0.8:
            width = rng.choice([1, 2, 4, 8])
            v = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            b[pos:pos + width] = v.to_bytes(width, "little")
            del b[n:]  # keep the length
        elif kind < 0.95:
            length = rng.randint(1, 64)
            src = rng.randrange(n)
            chunk = b[src:src + length]
            b[pos:pos + len(chunk)] = chunk
            del b[n:]
        else:
            del b[rng.randrange(n // 2, n):]
    return bytes(b)


def limit(as_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def classify(proc_rc, stderr, timed_out):
    if timed_out:
        return "hang"
    if proc_rc < 0:
        return "signal"
    if proc_rc == 101 or "panicked" in stderr:
        return "panic"
    if "memory allocation of" in stderr or "capacity overflow" in stderr:
        return "alloc"
    if proc_rc in (0, 1, 3):
        return "ok"
    return "other"


def run_one(args, exe, sm, path, work):
    """Both commands on one mutant; returns a list of (command, outcome, rc, stderr tail)."""
    env = dict(os.environ)
    if args.no_supervisor:
        env["MAGPIE_NO_SUPERVISOR"] = "1"
    env["MAGPIE_MEMORY_LIMIT_BYTES"] = str(args.as_limit_mb * (1 << 20) // 2)
    out = os.path.join(work, "r.mdf")
    commands = [
        ("inspect", [exe, "-q", "inspect", "--check", path]),
        ("reconstruct", [exe, "-q", "reconstruct", path, "--system-matrix", sm, "--method", "system-matrix",
                         "--max-freq-khz", "300", "-o", out]),
        ("reconstruct-as-sm", [exe, "-q", "reconstruct", sm, "--system-matrix", path, "-o", out]),
    ]
    results = []
    for name, cmd in commands:
        timed_out = False
        # Its own process group, so that a hang is killed with magpie's child process too.
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=work,
                             preexec_fn=limit(args.as_limit_mb << 20), start_new_session=True)
        try:
            _, err_b = p.communicate(timeout=args.timeout)
            rc, err = p.returncode, err_b.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            _, err_b = p.communicate()
            timed_out, rc, err = True, None, (err_b or b"").decode("utf-8", "replace")
        if os.path.exists(out):
            os.remove(out)
        results.append((name, classify(rc if rc is not None else 0, err, timed_out), rc, err[-400:]))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--magpie", default=os.path.join(ROOT, "target/release/magpie"))
    ap.add_argument("--seeds", nargs="*", default=[os.path.join(ROOT, s) for s in DEFAULT_SEEDS])
    ap.add_argument("--system-matrix", default=os.path.join(ROOT, "sample_data/mdf/system_matrix.mdf"),
                    help="the partner file of `reconstruct` (the mutant is tried as measurement and as matrix)")
    ap.add_argument("--mutants", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--as-limit-mb", type=int, default=1024)
    ap.add_argument("--keep", default=os.path.join(ROOT, "target/fuzz/findings"))
    ap.add_argument("--no-supervisor", action="store_true")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args()
    if args.mutants <= 0:
        sys.exit("--mutants must be positive")
    seeds = [(s, open(s, "rb").read()) for s in args.seeds]
    big = [s for s, d in seeds if len(d) >= 1 << 20]
    if big:
        sys.exit(f"seed files must be under 1 MB (the address-space limit is meant for small inputs): {big}")
    os.makedirs(args.keep, exist_ok=True)
    rng = random.Random(args.seed)
    jobs = []
    for i in range(args.mutants):
        name, data = seeds[i % len(seeds)]
        jobs.append((i, os.path.basename(name), mutate(data, rng)))

    counts = collections.Counter()
    per_command = collections.defaultdict(collections.Counter)
    findings = []
    t0 = time.time()

    def task(job):
        i, seed_name, data = job
        with tempfile.TemporaryDirectory(prefix="magpie-fuzz-") as work:
            path = os.path.join(work, "mutant.mdf")
            with open(path, "wb") as f:
                f.write(data)
            return i, seed_name, data, run_one(args, args.magpie, args.system_matrix, path, work)

    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, seed_name, data, results in pool.map(task, jobs):
            done += 1
            for name, outcome, rc, err in results:
                counts[outcome] += 1
                per_command[name][outcome] += 1
                if outcome != "ok":
                    stem = f"{outcome}_{i:06d}_{name}_{seed_name}"
                    with open(os.path.join(args.keep, stem), "wb") as f:
                        f.write(data)
                    with open(os.path.join(args.keep, stem + ".txt"), "w") as f:
                        f.write(f"command: {name}\nexit: {rc}\nstderr tail:\n{err}\n")
                    findings.append({"mutant": i, "seed": seed_name, "command": name, "outcome": outcome,
                                     "rc": rc, "stderr": err[-200:]})
            if done % 100 == 0 or done == len(jobs):
                el = time.time() - t0
                print(f"{done}/{len(jobs)} mutants in {el:.0f} s: {dict(counts)}", file=sys.stderr, flush=True)
    summary = {
        "mutants": args.mutants,
        "seeds": [os.path.basename(s) for s, _ in seeds],
        "runs": sum(counts.values()),
        "outcomes": dict(counts),
        "per_command": {k: dict(v) for k, v in per_command.items()},
        "supervisor": not args.no_supervisor,
        "timeout_s": args.timeout,
        "as_limit_mb": args.as_limit_mb,
        "seconds": round(time.time() - t0, 1),
        "findings": findings[:200],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "findings"}, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    bad = sum(v for k, v in counts.items() if k != "ok")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
