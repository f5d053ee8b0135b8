#!/usr/bin/env bash
# Regenerates the small sample files that the README's examples run on. Deterministic: fixed seeds, so only the
# files' UUIDs and timestamps change from one run to the next. MAGPIE=path/to/magpie chooses the binary.
set -euo pipefail
cd "$(dirname "$0")"
magpie=${MAGPIE:-../../target/release/magpie}
rm -f system_matrix.mdf measurement.mdf truth.mdf reconstruction.mdf
# A 13 × 13 system matrix over 39 × 39 mm (3 mm voxels), the receive band up to 200 kHz (≈ 560 kB).
"$magpie" -q sysmat --scanner bruker_2d --tracer perimag_like --grid 13x13x1 --fov-mm 39,39,1 \
    --max-freq-khz 200 --subsamples 3 -o system_matrix.mdf
# The 2-D concentration phantom (four cubes, 47 µg Fe), 4 frames and 2 + 2 background frames.
"$magpie" -q simulate --phantom concentration_cubes_2d --scanner bruker_2d --tracer perimag_like --frames 4 \
    -o measurement.mdf
# Its ground truth on the system matrix's grid, and a reconstruction of the first frame.
"$magpie" -q phantom concentration_cubes_2d --grid 13x13x1 --fov-mm 39,39,1 -o truth.mdf
"$magpie" -q reconstruct measurement.mdf --system-matrix system_matrix.mdf --preset sparse --frames 0:1 \
    -o reconstruction.mdf
