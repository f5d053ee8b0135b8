//! Conventions stated once.

/// # Axes, layouts, units and the FFT
///
/// **Measurement data** in memory use the MDF spec's C order (the order h5py and the Rust `hdf5` crate see):
/// raw time domain `[N, J, C, V]` (frames, periods, receive channels, samples), Fourier `[N, J, C, K]`, and the
/// processed system-matrix layout with the fast frame axis `[J, C, K, N]`, whose `(j, c, k)` slices are
/// system-matrix rows. Julia (MPIFiles.jl) sees every one of these reversed (`[V, C, J, N]`): when porting a
/// formula from Julia, reverse the index tuple, never transpose the data.
///
/// **Canonical views** ([`crate::mdf::measurement_spectra`], [`crate::mdf::system_matrix`]) return complex
/// `[N, J, C, K]` spectra in the receiver's unit (usually volt), frames in acquisition order, with the
/// `dataConversionFactor` applied and sparsity compression undone. Transfer-function correction is **never**
/// applied implicitly.
///
/// **Voxels** are flattened x fastest: p = ix + nx·(iy + ny·iz) (MDF order "xyz"); reconstructions are stored
/// as `[Q, P, S]` (frames, voxels, channels).
///
/// **Units**: SI everywhere in memory. Field strengths are the tesla value of μ0·H (suffix `_t`), gradients μ0·G
/// in T/m (`_t_per_m`), exactly the numbers MDF stores as "T/μ0". Iron masses in kg unless the name says
/// `_ng`; concentrations in mol/L (`_mol_per_l`).
///
/// **FFT**: û_k = Σ_{v=0}^{V−1} u_v e^{−2πi k v / V}, unscaled, one drive-field period, k = 0..=V/2 (the rFFT),
/// frequency f_k = k · 2·bandwidth / V. A sinusoid of amplitude A at bin k (0 < k < V/2) gives |û_k| = A·V/2.
///
/// **Index arrays** are 0-based in memory and written 1-based (see [`crate::mdf`]).
pub mod axes {}
