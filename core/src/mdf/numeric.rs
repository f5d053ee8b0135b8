//! Typed numeric arrays as stored in MDF files ("Number": int8–int64, float32/64, complex {r, i}).

use ndarray::{ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use serde::{Deserialize, Serialize};

/// An n-dimensional array in one of the element types MDF allows for `Number` datasets.
///
/// The element type of a file is kept so that a read → write round trip reproduces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum NumArray {
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    /// Compound {r: f32, i: f32}.
    C32(ArrayD<Complex32>),
    /// Compound {r: f64, i: f64}.
    C64(ArrayD<Complex64>),
}

macro_rules! each {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            NumArray::I8($a) => $body,
            NumArray::I16($a) => $body,
            NumArray::I32($a) => $body,
            NumArray::I64($a) => $body,
            NumArray::F32($a) => $body,
            NumArray::F64($a) => $body,
            NumArray::C32($a) => $body,
            NumArray::C64($a) => $body,
        }
    };
}

impl NumArray {
    /// Shape in C order (as stored on disk).
    pub fn shape(&self) -> &[usize] {
        each!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each!(self, a => a.len())
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type name as numpy spells it (`int16`, `float32`, `complex64`, …).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            NumArray::I8(_) => "int8",
            NumArray::I16(_) => "int16",
            NumArray::I32(_) => "int32",
            NumArray::I64(_) => "int64",
            NumArray::F32(_) => "float32",
            NumArray::F64(_) => "float64",
            NumArray::C32(_) => "complex64",
            NumArray::C64(_) => "complex128",
        }
    }

    /// True for the complex element types.
    pub fn is_complex(&self) -> bool {
        matches!(self, NumArray::C32(_) | NumArray::C64(_))
    }

    /// Flat index of the first NaN or infinite element, if any (integers are always finite).
    pub fn first_non_finite(&self) -> Option<usize> {
        match self {
            NumArray::F32(a) => a.iter().position(|v| !v.is_finite()),
            NumArray::F64(a) => a.iter().position(|v| !v.is_finite()),
            NumArray::C32(a) => a.iter().position(|v| !(v.re.is_finite() && v.im.is_finite())),
            NumArray::C64(a) => a.iter().position(|v| !(v.re.is_finite() && v.im.is_finite())),
            _ => None,
        }
    }

    /// The values as complex f64 (real types get a zero imaginary part), same shape.
    pub fn to_c64(&self) -> ArrayD<Complex64> {
        match self {
            NumArray::C32(a) => a.mapv(|v| Complex64::new(v.re as f64, v.im as f64)),
            NumArray::C64(a) => a.clone(),
            other => other.to_f64_lossy().mapv(|v| Complex64::new(v, 0.0)),
        }
    }

    /// The values as f64; complex arrays give their real part (callers check [`Self::is_complex`] first).
    pub fn to_f64_lossy(&self) -> ArrayD<f64> {
        match self {
            NumArray::I8(a) => a.mapv(f64::from),
            NumArray::I16(a) => a.mapv(f64::from),
            NumArray::I32(a) => a.mapv(f64::from),
            NumArray::I64(a) => a.mapv(|v| v as f64),
            NumArray::F32(a) => a.mapv(f64::from),
            NumArray::F64(a) => a.clone(),
            NumArray::C32(a) => a.mapv(|v| v.re as f64),
            NumArray::C64(a) => a.mapv(|v| v.re),
        }
    }

    /// A zero-filled complex-f64 array of the given shape.
    pub fn zeros_c64(shape: &[usize]) -> Self {
        NumArray::C64(ArrayD::zeros(IxDyn(shape)))
    }
}

impl From<ArrayD<f64>> for NumArray {
    fn from(a: ArrayD<f64>) -> Self {
        NumArray::F64(a)
    }
}

impl From<ArrayD<f32>> for NumArray {
    fn from(a: ArrayD<f32>) -> Self {
        NumArray::F32(a)
    }
}

impl From<ArrayD<Complex64>> for NumArray {
    fn from(a: ArrayD<Complex64>) -> Self {
        NumArray::C64(a)
    }
}

impl From<ArrayD<Complex32>> for NumArray {
    fn from(a: ArrayD<Complex32>) -> Self {
        NumArray::C32(a)
    }
}
