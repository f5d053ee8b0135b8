//! The HDF5 form of receive transfer functions that MPIFiles.jl writes and reads (`save`/`load_tf`); see
//! [`crate::tf`] for the layout.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::File;
use ndarray::{Array2, ArrayD, IxDyn};
use num_complex::Complex64;

use super::util::{h5err, H5};
use crate::mdf::{MdfError, MdfResult};
use crate::tf::{TfError, TransferFunction};

fn file_error(path: &Path, e: MdfError) -> TfError {
    TfError::Hdf5 { path: path.to_path_buf(), source: Box::new(e) }
}

/// Reads a transfer function from the HDF5 form (`/frequencies`, `/transferFunction` as compound {r, i} of
/// C-order shape [C, K] or float [C, K, 2], optional `/inductionFactor` [C] and `/unit` [C]).
///
/// # Errors
/// [`TfError::Hdf5`] naming the dataset for a missing or mistyped dataset or a shape that does not fit;
/// [`TfError::Invalid`] for inconsistent values.
pub fn read_transfer_function(path: &Path) -> Result<TransferFunction, TfError> {
    let _span = tracing::debug_span!("tf_read", path = %path.display()).entered();
    let fe = |e| file_error(path, e);
    let file = File::open(path).map_err(|e| fe(MdfError::Open { path: path.to_path_buf(), reason: e.to_string() }))?;
    let h5 = H5 { file };
    let freq = h5.f64_array("/frequencies").map_err(fe)?;
    if freq.ndim() != 1 {
        return Err(fe(MdfError::shape("/frequencies", "[K]", freq.shape())));
    }
    let k = freq.len();
    let ds = h5.dataset("/transferFunction").map_err(fe)?;
    let td = h5.descriptor(&ds, "/transferFunction").map_err(fe)?;
    let data: Array2<Complex64> = if super::util::complex_width(&td).is_some() {
        let a = h5.c64_array("/transferFunction").map_err(fe)?;
        match *a.shape() {
            [c, kk] if kk == k => a.into_shape_with_order((c, k)).expect("shape checked"),
            [kk] if kk == k => a.into_shape_with_order((1, k)).expect("shape checked"),
            ref s => {
                return Err(fe(MdfError::shape("/transferFunction", format!("[C, K={k}] (compound {{r, i}})"), s)))
            }
        }
    } else {
        let a = h5.f64_array("/transferFunction").map_err(fe)?;
        match a.shape() {
            [c, kk, 2] if *kk == k => {
                let c = *c;
                Array2::from_shape_fn((c, k), |(cc, kk)| Complex64::new(a[[cc, kk, 0]], a[[cc, kk, 1]]))
            }
            // A real transfer function (phase 0), as MPIFiles' constructor accepts.
            [c, kk] if *kk == k => {
                let c = *c;
                Array2::from_shape_fn((c, k), |(cc, kk)| Complex64::new(a[[cc, kk]], 0.0))
            }
            s => {
                return Err(fe(MdfError::shape(
                    "/transferFunction",
                    format!("[C, K={k}] compound {{r, i}}, or [C, K={k}, 2] float (re, im)"),
                    s,
                )))
            }
        }
    };
    let c = data.nrows();
    let induction_factor = match h5.opt_dataset("/inductionFactor").map_err(fe)? {
        Some(_) => {
            let a = h5.f64_array("/inductionFactor").map_err(fe)?;
            if a.len() != c {
                return Err(fe(MdfError::shape("/inductionFactor", format!("[C={c}]"), a.shape())));
            }
            Some(a.iter().copied().collect())
        }
        None => None,
    };
    let units = if h5.exists("/unit") {
        let (u, _) = h5.strings("/unit").map_err(fe)?;
        Some(u)
    } else {
        None
    };
    TransferFunction::new(freq.iter().copied().collect(), data, induction_factor, path.display().to_string())?
        .with_units(units.filter(|u| u.len() == c))
}

/// Writes `tf` in the HDF5 form MPIFiles.jl reads, atomically (a temporary file in the target folder, then
/// rename): `/frequencies` [K], `/transferFunction` [C, K] compound {r, i}, `/inductionFactor` [C] (ones when
/// unknown, as MPIFiles writes), `/unit` [C] (when known).
///
/// # Errors
/// [`TfError::Hdf5`] or [`TfError::Io`]; nothing is left at `path` on failure.
pub fn write_transfer_function(path: &Path, tf: &TransferFunction) -> Result<(), TfError> {
    let _span = tracing::debug_span!("tf_write", path = %path.display()).entered();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tf.h5".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let _registered = crate::tempfiles::TempFile::register(&tmp);
    let result = write_to(&tmp, tf)
        .map_err(|e| file_error(path, e))
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| TfError::Io { path: path.to_path_buf(), source: e }));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_to(tmp: &Path, tf: &TransferFunction) -> MdfResult<()> {
    let f = File::create(tmp).map_err(|e| MdfError::Open { path: tmp.to_path_buf(), reason: e.to_string() })?;
    let put = |name: &str, r: hdf5::Result<hdf5::Dataset>| r.map(|_| ()).map_err(|e| h5err(name, e));
    let freq =
        ArrayD::from_shape_vec(IxDyn(&[tf.frequency_hz().len()]), tf.frequency_hz().to_vec()).expect("K frequencies");
    put("/frequencies", f.new_dataset_builder().with_data(&freq).create("frequencies"))?;
    put("/transferFunction", f.new_dataset_builder().with_data(tf.data()).create("transferFunction"))?;
    let c = tf.channels();
    let induction = tf.induction_factor().map(|v| v.to_vec()).unwrap_or_else(|| vec![1.0; c]);
    let induction = ArrayD::from_shape_vec(IxDyn(&[c]), induction).expect("C values");
    put("/inductionFactor", f.new_dataset_builder().with_data(&induction).create("inductionFactor"))?;
    if let Some(units) = tf.units() {
        let u: Vec<VarLenUnicode> = units
            .iter()
            .map(|s| s.parse::<VarLenUnicode>().map_err(|e| MdfError::invalid("/unit", e.to_string())))
            .collect::<MdfResult<_>>()?;
        let u = ArrayD::from_shape_vec(IxDyn(&[c]), u).expect("C units");
        put("/unit", f.new_dataset_builder().with_data(&u).create("unit"))?;
    }
    drop(f);
    Ok(())
}
