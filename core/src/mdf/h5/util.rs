//! Low-level helpers over `hdf5-metno`: existence checks, typed reads with spec-aware error messages.

use hdf5::types::{FixedAscii, FixedUnicode, FloatSize, IntSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File};
use ndarray::ArrayD;
use num_complex::{Complex32, Complex64};

use crate::mdf::{MdfError, MdfResult, NumArray};

pub(crate) fn h5err(dataset: &str, e: hdf5::Error) -> MdfError {
    MdfError::Hdf5 { dataset: dataset.to_string(), message: e.to_string() }
}

/// Human-readable name of an HDF5 type descriptor.
pub(crate) fn describe(td: &TypeDescriptor) -> String {
    match td {
        TypeDescriptor::Integer(s) => format!("int{}", *s as usize * 8),
        TypeDescriptor::Unsigned(s) => format!("uint{}", *s as usize * 8),
        TypeDescriptor::Float(s) => format!("float{}", *s as usize * 8),
        TypeDescriptor::Boolean => "bool".into(),
        TypeDescriptor::Enum(_) => "enum".into(),
        TypeDescriptor::Compound(c) => {
            let f: Vec<String> = c.fields.iter().map(|f| format!("{}: {}", f.name, describe(&f.ty))).collect();
            format!("compound {{{}}}", f.join(", "))
        }
        TypeDescriptor::FixedArray(t, n) => format!("array[{n}] of {}", describe(t)),
        TypeDescriptor::FixedAscii(n) => format!("fixed-length ASCII string ({n} bytes)"),
        TypeDescriptor::FixedUnicode(n) => format!("fixed-length UTF-8 string ({n} bytes)"),
        TypeDescriptor::VarLenArray(t) => format!("variable-length array of {}", describe(t)),
        TypeDescriptor::VarLenAscii => "variable-length ASCII string".into(),
        TypeDescriptor::VarLenUnicode => "variable-length UTF-8 string".into(),
        TypeDescriptor::Reference(_) => "reference".into(),
    }
}

/// Wraps an open file with reading helpers that name the dataset in every error.
pub(crate) struct H5 {
    pub file: File,
}

impl H5 {
    /// True when every component of `path` exists (H5Lexists fails on missing intermediate groups).
    pub fn exists(&self, path: &str) -> bool {
        let mut cur = String::new();
        for part in path.trim_start_matches('/').split('/') {
            cur.push('/');
            cur.push_str(part);
            if !self.file.link_exists(&cur) {
                return false;
            }
        }
        true
    }

    pub fn is_group(&self, path: &str) -> bool {
        self.exists(path) && self.file.group(path).is_ok()
    }

    pub fn dataset(&self, path: &str) -> MdfResult<Dataset> {
        if crate::breadcrumb::enabled() {
            crate::breadcrumb::note(&format!("{}:{path}", self.file.filename()));
        }
        if !self.exists(path) {
            return Err(MdfError::Missing { dataset: path.into(), context: String::new() });
        }
        let ds = self.file.dataset(path).map_err(|_| MdfError::Type {
            dataset: path.into(),
            expected: "a dataset".into(),
            found: "a group or other object".into(),
        })?;
        self.check_extent(&ds, path)?;
        Ok(ds)
    }

    /// The dataspace against the file: the element count must not overflow, and a contiguous (unchunked)
    /// dataset cannot hold more bytes than the file has — a crafted header declaring 2³¹ elements in a 40 kB
    /// file is refused here instead of making the reader allocate 16 GB.
    fn check_extent(&self, ds: &Dataset, path: &str) -> MdfResult<()> {
        let shape = ds.shape();
        let Some(n) = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
            return Err(MdfError::Invalid {
                dataset: path.into(),
                message: format!("the dimensions {shape:?} overflow the element count: the file is corrupt"),
            });
        };
        let elem = ds.dtype().map(|t| t.size()).unwrap_or(1).max(1);
        let bytes = (n as u128) * (elem as u128);
        if !ds.is_chunked() {
            let file_bytes = std::fs::metadata(self.file.filename()).map(|m| m.len()).unwrap_or(u64::MAX);
            if bytes > u128::from(file_bytes) {
                return Err(MdfError::Invalid {
                    dataset: path.into(),
                    message: format!(
                        "declares {n} elements of {elem} B ({bytes} B) stored contiguously, more than the file's \
                         {file_bytes} B: the file is truncated or corrupt"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Before a whole dataset is read into memory: its size (at 16 B per element, the widest conversion)
    /// must fit the memory available ([`crate::mem::allocation_limit_bytes`]) — a compressed chunked dataset
    /// can declare far more than its file holds.
    fn check_whole_read(&self, ds: &Dataset, path: &str) -> MdfResult<()> {
        let n: u128 = ds.shape().iter().map(|&d| d as u128).product();
        let bytes = n.saturating_mul(16);
        if let Some(limit) = crate::mem::allocation_limit_bytes() {
            if bytes > u128::from(limit) {
                return Err(MdfError::Invalid {
                    dataset: path.into(),
                    message: format!(
                        "reading its {n} elements would need ≈ {:.2} GB, more than the {:.2} GB available",
                        bytes as f64 / 1e9,
                        limit as f64 / 1e9
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn opt_dataset(&self, path: &str) -> MdfResult<Option<Dataset>> {
        if self.exists(path) {
            self.dataset(path).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn descriptor(&self, ds: &Dataset, path: &str) -> MdfResult<TypeDescriptor> {
        ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(path, e))
    }

    // ---- strings ----

    pub fn strings(&self, path: &str) -> MdfResult<(Vec<String>, Vec<usize>)> {
        let ds = self.dataset(path)?;
        self.check_whole_read(&ds, path)?;
        let shape = ds.shape();
        let td = self.descriptor(&ds, path)?;
        let e = |e| h5err(path, e);
        let _watch =
            crate::breadcrumb::enabled().then(|| crate::breadcrumb::watch(&format!("{}:{path}", self.file.filename())));
        let v: Vec<String> = match td {
            TypeDescriptor::VarLenUnicode => {
                ds.read_raw::<VarLenUnicode>().map_err(e)?.iter().map(|s| text(s.as_bytes())).collect()
            }
            TypeDescriptor::VarLenAscii => {
                ds.read_raw::<VarLenAscii>().map_err(e)?.iter().map(|s| text(s.as_bytes())).collect()
            }
            TypeDescriptor::FixedAscii(n) => read_fixed(&ds, n, false, path)?,
            TypeDescriptor::FixedUnicode(n) => read_fixed(&ds, n, true, path)?,
            other => {
                return Err(MdfError::Type {
                    dataset: path.into(),
                    expected: "a string".into(),
                    found: describe(&other),
                })
            }
        };
        Ok((v, shape))
    }

    pub fn string(&self, path: &str) -> MdfResult<String> {
        let (v, shape) = self.strings(path)?;
        if v.len() != 1 {
            return Err(MdfError::shape(path, "a scalar string", &shape));
        }
        Ok(v.into_iter().next().unwrap_or_default())
    }

    pub fn opt_string(&self, path: &str) -> MdfResult<Option<String>> {
        if self.exists(path) {
            self.string(path).map(Some)
        } else {
            Ok(None)
        }
    }

    // ---- numbers ----

    fn numeric_class(&self, ds: &Dataset, path: &str, want_int: bool) -> MdfResult<()> {
        let td = self.descriptor(ds, path)?;
        let ok = match td {
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Boolean => true,
            TypeDescriptor::Float(_) => !want_int,
            _ => false,
        };
        if !ok {
            let expected = if want_int { "an integer" } else { "a real number" };
            return Err(MdfError::Type { dataset: path.into(), expected: expected.into(), found: describe(&td) });
        }
        Ok(())
    }

    pub fn f64_array(&self, path: &str) -> MdfResult<ArrayD<f64>> {
        let ds = self.dataset(path)?;
        self.check_whole_read(&ds, path)?;
        self.numeric_class(&ds, path, false)?;
        let a = ds.read_dyn::<f64>().map_err(|e| h5err(path, e))?;
        if let Some(i) = a.iter().position(|v| !v.is_finite()) {
            return Err(MdfError::NonFinite { dataset: path.into(), index: i });
        }
        Ok(a)
    }

    pub fn i64_array(&self, path: &str) -> MdfResult<ArrayD<i64>> {
        let ds = self.dataset(path)?;
        self.check_whole_read(&ds, path)?;
        self.numeric_class(&ds, path, true)?;
        // h5py (numpy `bool`) and hdf5-rust store booleans as an HDF5 enum {FALSE = 0, TRUE = 1} over int8.
        // libhdf5 converts an enum only to another enum, not to an integer, so such flags are read as
        // booleans and widened here; MDF's own Int8 booleans take the integer path.
        if matches!(self.descriptor(&ds, path)?, TypeDescriptor::Boolean) {
            let b = ds.read_dyn::<bool>().map_err(|e| h5err(path, e))?;
            return Ok(b.mapv(i64::from));
        }
        ds.read_dyn::<i64>().map_err(|e| h5err(path, e))
    }

    /// The rank-independent shape of a dataset (empty for a scalar).
    pub fn shape(&self, path: &str) -> MdfResult<Vec<usize>> {
        Ok(self.dataset(path)?.shape())
    }

    pub fn f64(&self, path: &str) -> MdfResult<f64> {
        let a = self.f64_array(path)?;
        if a.len() != 1 {
            return Err(MdfError::shape(path, "a scalar", a.shape()));
        }
        Ok(a.iter().next().copied().unwrap_or_default())
    }

    pub fn i64(&self, path: &str) -> MdfResult<i64> {
        let a = self.i64_array(path)?;
        if a.len() != 1 {
            return Err(MdfError::shape(path, "a scalar", a.shape()));
        }
        Ok(a.iter().next().copied().unwrap_or_default())
    }

    pub fn opt_f64(&self, path: &str) -> MdfResult<Option<f64>> {
        if self.exists(path) {
            self.f64(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// An Int8 boolean (any integer accepted; values other than 0/1 are an error).
    pub fn bool(&self, path: &str) -> MdfResult<bool> {
        match self.i64(path)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(MdfError::invalid(path, format!("expected a boolean 0 or 1 (Int8), found {v}"))),
        }
    }

    pub fn opt_bool(&self, path: &str) -> MdfResult<Option<bool>> {
        if self.exists(path) {
            self.bool(path).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn bool_vec(&self, path: &str) -> MdfResult<Vec<bool>> {
        let a = self.i64_array(path)?;
        if a.ndim() != 1 {
            return Err(MdfError::shape(path, "a vector", a.shape()));
        }
        a.iter()
            .map(|&v| match v {
                0 => Ok(false),
                1 => Ok(true),
                v => Err(MdfError::invalid(path, format!("expected booleans 0 or 1 (Int8), found {v}"))),
            })
            .collect()
    }

    pub fn opt_vec3(&self, path: &str) -> MdfResult<Option<[f64; 3]>> {
        if !self.exists(path) {
            return Ok(None);
        }
        let a = self.f64_array(path)?;
        if a.shape() != [3] {
            return Err(MdfError::shape(path, "[3]", a.shape()));
        }
        Ok(Some([a[[0]], a[[1]], a[[2]]]))
    }

    /// A `Number` dataset in its stored element type.
    pub fn num_array(&self, path: &str) -> MdfResult<NumArray> {
        let ds = self.dataset(path)?;
        self.check_whole_read(&ds, path)?;
        let td = self.descriptor(&ds, path)?;
        let e = |e| h5err(path, e);
        Ok(match &td {
            TypeDescriptor::Integer(IntSize::U1) => NumArray::I8(ds.read_dyn().map_err(e)?),
            TypeDescriptor::Integer(IntSize::U2) | TypeDescriptor::Unsigned(IntSize::U1) => {
                NumArray::I16(ds.read_dyn().map_err(e)?)
            }
            TypeDescriptor::Integer(IntSize::U4) | TypeDescriptor::Unsigned(IntSize::U2) => {
                NumArray::I32(ds.read_dyn().map_err(e)?)
            }
            TypeDescriptor::Integer(IntSize::U8) | TypeDescriptor::Unsigned(IntSize::U4) => {
                NumArray::I64(ds.read_dyn().map_err(e)?)
            }
            TypeDescriptor::Float(FloatSize::U4) => NumArray::F32(ds.read_dyn().map_err(e)?),
            TypeDescriptor::Float(FloatSize::U8) => NumArray::F64(ds.read_dyn().map_err(e)?),
            TypeDescriptor::Compound(_) => match complex_width(&td) {
                Some(4) => NumArray::C32(ds.read_dyn::<Complex32>().map_err(e)?),
                Some(8) => NumArray::C64(ds.read_dyn::<Complex64>().map_err(e)?),
                _ => return Err(not_a_number(path, &td)),
            },
            _ => return Err(not_a_number(path, &td)),
        })
    }

    /// A complex dataset (compound {r, i}); real numbers are accepted with a zero imaginary part.
    pub fn c64_array(&self, path: &str) -> MdfResult<ArrayD<Complex64>> {
        let a = self.num_array(path)?;
        if let Some(i) = a.first_non_finite() {
            return Err(MdfError::NonFinite { dataset: path.into(), index: i });
        }
        Ok(a.to_c64())
    }
}

fn not_a_number(path: &str, td: &TypeDescriptor) -> MdfError {
    MdfError::Type {
        dataset: path.into(),
        expected: "a Number (int8–int64, float32/64, or compound {r, i} of float32/64)".into(),
        found: describe(td),
    }
}

/// The byte width of the float members when `td` is the MDF complex compound {r, i}.
pub(crate) fn complex_width(td: &TypeDescriptor) -> Option<usize> {
    let TypeDescriptor::Compound(c) = td else { return None };
    if c.fields.len() != 2 {
        return None;
    }
    let mut names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    if names != ["i", "r"] {
        return None;
    }
    match (&c.fields[0].ty, &c.fields[1].ty) {
        (TypeDescriptor::Float(a), TypeDescriptor::Float(b)) if a == b => Some(*a as usize),
        _ => None,
    }
}

/// The bytes of a stored string as text. The hdf5 crate's `as_str` assumes valid UTF-8 (or ASCII) without checking,
/// and a corrupt file can hold any bytes, which made formatting the string panic; invalid sequences become U+FFFD
/// instead (metadata strings are descriptive, and a mangled `/version` is still refused by the validator).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads fixed-length strings of `n` bytes by letting HDF5 convert them to a fixed buffer at least as long.
fn read_fixed(ds: &Dataset, n: usize, utf8: bool, path: &str) -> MdfResult<Vec<String>> {
    macro_rules! via {
        ($len:literal) => {{
            if utf8 {
                let v = ds.read_raw::<FixedUnicode<$len>>().map_err(|e| h5err(path, e))?;
                v.iter().map(|s| text(s.as_bytes()).trim_end_matches(['\0', ' ']).to_string()).collect()
            } else {
                let v = ds.read_raw::<FixedAscii<$len>>().map_err(|e| h5err(path, e))?;
                v.iter().map(|s| text(s.as_bytes()).trim_end_matches(['\0', ' ']).to_string()).collect()
            }
        }};
    }
    Ok(match n {
        0..=64 => via!(64),
        65..=512 => via!(512),
        513..=4096 => via!(4096),
        _ => {
            return Err(MdfError::Type {
                dataset: path.into(),
                expected: "a string of at most 4096 bytes".into(),
                found: format!("a fixed-length string of {n} bytes"),
            })
        }
    })
}
