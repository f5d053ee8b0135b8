//! The MDF v2 file format (MPI Data Format; `mdf-v2.md`): in-memory model, validation, canonical views of the
//! data, and (feature `hdf5`) reading and writing through libhdf5.
//!
//! # Index base
//! The specification does not say whether `frequencySelection`, `framePermutation` and `subsamplingIndices`
//! are 0- or 1-based; MPIFiles.jl (the reference implementation) writes **1-based** Julia indices. magpie keeps
//! them **0-based in memory**, **writes them 1-based** (so the Julia tools read magpie's files), and on reading
//! detects the base with [`IndexBase::Auto`]: an array containing 0 is 0-based; one containing the largest
//! 1-based value (e.g. V/2+1 for a frequency selection, N for a permutation) is 1-based; an array that could be
//! either (neither 0 nor the maximum occurs) is taken as 1-based, the convention of the files in circulation,
//! and the choice is logged. [`ReadOptions::index_base`] overrides the detection.

mod dct;
mod error;
pub mod example;
mod model;
mod numeric;
mod spectra;
mod validate;

#[cfg(feature = "hdf5")]
mod h5;

pub use dct::{dct_matrix, GridTransform};
pub use error::{MdfError, MdfResult};
pub use model::*;
pub use numeric::NumArray;
pub use spectra::{measurement_spectra, system_matrix, time_data, RowId, Spectra, SystemMatrixRows};
pub use validate::{validate, validate_structure, DataInfo, Dims, ElementClass};

#[cfg(feature = "hdf5")]
pub use h5::{
    read_mdf, read_mdf_with, read_transfer_function, write_mdf, write_transfer_function, MdfReader, ReadOptions,
    RowReadEstimate, RowReadOptions, RowReadPath, RowReadPlan, WriteOptions, DEFAULT_STAGING_BYTES,
};

/// How the index arrays of a file are based.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IndexBase {
    /// Detect from the values (see the module docs).
    #[default]
    Auto,
    /// C-style, first element is 0.
    Zero,
    /// Julia-style, first element is 1 (what MPIFiles.jl writes).
    One,
}

impl IndexBase {
    /// Converts `raw` indices into 0-based ones valid below `bound`, detecting the base when `Auto`.
    /// Returns the indices and the base used. Range is checked by [`validate`], except negative values.
    ///
    /// # Errors
    /// A negative index, or a negative 0-based index after conversion.
    pub fn resolve(opt: IndexBase, raw: &[i64], bound: usize, dataset: &str) -> MdfResult<(Vec<usize>, IndexBase)> {
        let min = raw.iter().copied().min().unwrap_or(0);
        let max = raw.iter().copied().max().unwrap_or(0);
        let base = match opt {
            IndexBase::Auto => {
                if min == 0 {
                    IndexBase::Zero
                } else {
                    if max < bound as i64 {
                        tracing::debug!(
                            dataset,
                            "index base is ambiguous (no 0 and no {bound}); assuming 1-based (MPIFiles convention)"
                        );
                    }
                    IndexBase::One
                }
            }
            b => b,
        };
        let off = if base == IndexBase::One { 1 } else { 0 };
        let mut out = Vec::with_capacity(raw.len());
        for &r in raw {
            let v = r - off;
            if v < 0 {
                return Err(MdfError::invalid(
                    dataset,
                    format!("index {r} is invalid for {}-based indexing", if off == 1 { "1" } else { "0" }),
                ));
            }
            out.push(v as usize);
        }
        Ok((out, base))
    }

    /// As [`Self::resolve`], for an index array of any shape given flat.
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub fn resolve_indices(
        opt: IndexBase,
        raw: &[i64],
        bound: usize,
        dataset: &str,
    ) -> MdfResult<(Vec<usize>, IndexBase)> {
        Self::resolve(opt, raw, bound, dataset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_base_detection() {
        let (v, b) = IndexBase::resolve(IndexBase::Auto, &[0, 3, 5], 6, "x").unwrap();
        assert_eq!((v, b), (vec![0, 3, 5], IndexBase::Zero));
        let (v, b) = IndexBase::resolve(IndexBase::Auto, &[1, 6], 6, "x").unwrap();
        assert_eq!((v, b), (vec![0, 5], IndexBase::One));
        // Ambiguous: neither 0 nor the 1-based maximum; the MPIFiles convention wins.
        let (v, b) = IndexBase::resolve(IndexBase::Auto, &[2, 3], 6, "x").unwrap();
        assert_eq!((v, b), (vec![1, 2], IndexBase::One));
        // Forced base.
        let (v, _) = IndexBase::resolve(IndexBase::Zero, &[2, 3], 6, "x").unwrap();
        assert_eq!(v, vec![2, 3]);
        assert!(IndexBase::resolve(IndexBase::One, &[0], 6, "x").is_err());
        assert!(IndexBase::resolve(IndexBase::Auto, &[-1], 6, "x").is_err());
    }
}
