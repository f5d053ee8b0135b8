//! The system matrix held once: contiguous row-major rows (rows × voxels), never real-stacked and never cloned,
//! with the row energies ‖s_l‖² and ‖S‖²_F that every frame needs computed once, in `f64`, at construction.

use magpie_core::operator::{LinearOperator, ShapeError};

use super::{gemm_adjoint_acc, gemm_rows_acc, Element, Parallelism};

/// A dense system matrix S [rows, cols] in row-major order (row l = frequency component l, contiguous over the
/// voxels), with cached row energies. It is a [`LinearOperator`] S: Tᶜᵒˡˢ → Tʳᵒʷˢ.
#[derive(Debug, Clone)]
pub struct SystemMatrix<T: Element> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
    row_norms_sq: Vec<f64>,
    frobenius_sq: f64,
    parallelism: Parallelism,
    label: String,
}

impl<T: Element> SystemMatrix<T> {
    /// Takes ownership of `data` (row-major, `rows × cols` entries) and computes the row energies.
    ///
    /// # Errors
    /// [`ShapeError`] when `data` does not hold `rows × cols` entries.
    pub fn from_row_major(
        data: Vec<T>,
        rows: usize,
        cols: usize,
        parallelism: Parallelism,
    ) -> Result<Self, ShapeError> {
        if data.len() != rows * cols {
            return Err(ShapeError {
                operator: "system matrix".into(),
                what: "input",
                expected: rows * cols,
                found: data.len(),
            });
        }
        // Energies accumulated in f64 (as the numpy baseline and MPIReco do): in f32, ‖s_l‖² of a 6859-voxel row
        // would carry ~1e-4 relative rounding, enough to shift Kaczmarz's step visibly.
        let row_norms_sq: Vec<f64> = if cols == 0 {
            vec![0.0; rows]
        } else {
            data.chunks(cols).map(|r| r.iter().map(|z| z.abs2()).sum()).collect()
        };
        let frobenius_sq = row_norms_sq.iter().sum();
        Ok(SystemMatrix { rows, cols, data, row_norms_sq, frobenius_sq, parallelism, label: "system matrix".into() })
    }

    /// Number of rows (frequency components).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (voxels).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `l`.
    ///
    /// # Panics
    /// When `l` is out of range.
    pub fn row(&self, l: usize) -> &[T] {
        &self.data[l * self.cols..(l + 1) * self.cols]
    }

    /// Rows `r0..r1`, contiguous.
    pub fn rows_slice(&self, r0: usize, r1: usize) -> &[T] {
        &self.data[r0 * self.cols..r1 * self.cols]
    }

    /// All entries, row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// Gives the rows back (no copy).
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// ‖s_l‖², accumulated in `f64`.
    pub fn row_norm_sq(&self, l: usize) -> f64 {
        self.row_norms_sq[l]
    }

    /// ‖s_l‖² of every row.
    pub fn row_norms_sq(&self) -> &[f64] {
        &self.row_norms_sq
    }

    /// ‖S‖²_F = Σ_l ‖s_l‖².
    pub fn frobenius_sq(&self) -> f64 {
        self.frobenius_sq
    }

    /// MPIReco's system-matrix-based normalisation of the regularisation weight: λ_eff = λ_rel · ‖S‖²_F / N.
    pub fn lambda_eff(&self, lambda_relative: f64) -> f64 {
        lambda_relative * self.frobenius_sq / self.cols.max(1) as f64
    }

    /// The threads its products use.
    pub fn parallelism(&self) -> &Parallelism {
        &self.parallelism
    }

    /// Changes the threads its products use (results do not change).
    pub fn set_parallelism(&mut self, parallelism: Parallelism) {
        self.parallelism = parallelism;
    }

    /// Bytes held by the rows.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<T>()
    }
}

impl<T: Element> SystemMatrix<T> {
    /// The complex-f32 matrix on the SIMD kernels (AVX-512 or AVX2), when that is the element type and the CPU
    /// has them (else the products go through faer).
    fn simd(&self) -> Option<super::fast_ops::Dense<'_>> {
        let isa = super::kernels::Isa::detect();
        if isa == super::kernels::Isa::Portable {
            return None;
        }
        T::as_c32(&self.data).map(|data| super::fast_ops::Dense {
            data,
            rows: self.rows,
            cols: self.cols,
            threads: self.parallelism.thread_count(),
            isa,
        })
    }
}

impl<T: Element> LinearOperator<T> for SystemMatrix<T> {
    fn name(&self) -> &str {
        &self.label
    }
    fn input_len(&self) -> usize {
        self.cols
    }
    fn output_len(&self) -> usize {
        self.rows
    }
    fn forward_unchecked(&self, x: &[T], y: &mut [T]) {
        self.forward_batch_unchecked(x, y, 1);
    }
    fn adjoint_unchecked(&self, y: &[T], x: &mut [T]) {
        self.adjoint_batch_unchecked(y, x, 1);
    }
    fn forward_batch_unchecked(&self, x: &[T], y: &mut [T], frames: usize) {
        if let (Some(dense), Some(x32), Some(y32)) = (self.simd(), T::as_c32(x), T::as_c32_mut(y)) {
            dense.forward(x32, y32, frames);
            return;
        }
        y.fill(T::default());
        let par = self.parallelism.par();
        self.parallelism.install(|| {
            gemm_rows_acc(y, self.rows, self.rows, frames, &self.data, self.cols, x, T::from_f64(1.0), par)
        });
    }
    fn normal_batch_unchecked(&self, x: &[T], out: &mut [T], scratch: &mut [T], frames: usize) {
        if let (Some(dense), Some(x32), Some(o32)) = (self.simd(), T::as_c32(x), T::as_c32_mut(out)) {
            dense.normal(x32, o32, frames);
            return;
        }
        self.forward_batch_unchecked(x, scratch, frames);
        self.adjoint_batch_unchecked(scratch, out, frames);
    }
    fn adjoint_batch_unchecked(&self, y: &[T], x: &mut [T], frames: usize) {
        if let (Some(dense), Some(y32), Some(x32)) = (self.simd(), T::as_c32(y), T::as_c32_mut(x)) {
            dense.adjoint(y32, x32, frames);
            return;
        }
        x.fill(T::default());
        let par = self.parallelism.par();
        self.parallelism.install(|| {
            gemm_adjoint_acc(x, self.cols, frames, &self.data, self.rows, y, self.rows, T::from_f64(1.0), par)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use magpie_core::operator::testing::{assert_adjoint, assert_batch, assert_linear, rel_diff};
    use magpie_core::operator::DenseOperator;
    use num_complex::{Complex32, Complex64};

    fn entries<T: Element>(m: usize, n: usize) -> Vec<T> {
        magpie_core::operator::testing::random_vec(m * n, 11)
    }

    #[test]
    fn products_equal_the_dense_reference_and_pass_the_adjoint_test() {
        let (m, n) = (37, 23);
        let e: Vec<Complex64> = entries(m, n);
        let s = SystemMatrix::from_row_major(e.clone(), m, n, Parallelism::sequential()).unwrap();
        let dense = DenseOperator::from_fn(m, n, "dense", |i, j| e[i * n + j]);
        let x = magpie_core::operator::testing::random_vec::<Complex64>(n, 3);
        let (mut y1, mut y2) = (vec![Complex64::default(); m], vec![Complex64::default(); m]);
        s.forward_unchecked(&x, &mut y1);
        dense.forward_unchecked(&x, &mut y2);
        assert!(rel_diff(&y1, &y2) < 1e-14);
        let (mut x1, mut x2) = (vec![Complex64::default(); n], vec![Complex64::default(); n]);
        s.adjoint_unchecked(&y1, &mut x1);
        dense.adjoint_unchecked(&y1, &mut x2);
        assert!(rel_diff(&x1, &x2) < 1e-14);
        assert_adjoint(&s, 5, 1e-13);
        assert_linear(&s, 6, 1e-13);
        assert_batch(&s, 4, 7, 1e-14);
        let s32 =
            SystemMatrix::from_row_major(entries::<Complex32>(m, n), m, n, Parallelism::threads(2).unwrap()).unwrap();
        assert_adjoint(&s32, 5, 1e-6);
        assert_batch(&s32, 3, 8, 1e-6);
        let sr = SystemMatrix::from_row_major(entries::<f64>(m, n), m, n, Parallelism::sequential()).unwrap();
        assert_adjoint(&sr, 5, 1e-13);
    }

    #[test]
    fn norms_are_cached_in_f64_and_shapes_are_checked() {
        let s =
            SystemMatrix::from_row_major(vec![Complex32::new(3.0, 4.0); 6], 2, 3, Parallelism::sequential()).unwrap();
        assert_eq!(s.row_norms_sq(), &[75.0, 75.0]);
        assert_eq!(s.frobenius_sq(), 150.0);
        assert_eq!(s.lambda_eff(0.1), 0.1 * 150.0 / 3.0);
        assert!(SystemMatrix::from_row_major(vec![Complex32::default(); 5], 2, 3, Parallelism::sequential()).is_err());
    }
}
