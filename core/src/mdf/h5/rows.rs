//! Reading a subset of system-matrix rows (period × channel × frequency) straight from disk, without loading
//! the whole matrix: real 3-D calibration files hold several GB.
//!
//! # How rows are read
//! A read is planned first ([`MdfReader::plan_row_read`]: rows checked, read path chosen, memory estimated, no
//! large allocation) and then executed ([`RowReadPlan::read`]). Three paths exist, chosen from the layout of
//! `/measurement/data`:
//!
//! * [`RowReadPath::Direct`] — the processed layout (Fourier, fast frame axis `[J, C, K, N]`, not
//!   sparsity-compressed) stored **contiguously, unfiltered, in the native complex type**. Each row is then a
//!   contiguous byte range of the file, and a run of consecutive rows is one range. Runs are read with
//!   positioned reads (`pread`) into a small per-thread staging buffer and converted from there into the final
//!   buffers, in parallel on the current rayon pool. This is how MPIFiles.jl reads such files too (it memory-maps
//!   the contiguous dataset); libhdf5 is bypassed only for the bulk bytes, after checking with libhdf5 that the
//!   file type is byte-identical to the memory type and that one row read both ways agrees bit for bit.
//! * [`RowReadPath::Hyperslab`] — the same layout when it is chunked, filtered or in a non-native type (e.g.
//!   big-endian): one HDF5 hyperslab read per run of consecutive rows of one (j, c), at most one staging piece
//!   at a time, converted in parallel while the next piece is read.
//! * [`RowReadPath::PerRow`] — every other layout (time domain, frame axis first, sparsity-compressed, real
//!   element types): the row-by-row reader, converted into the output row by row.
//!
//! Every path applies `dataConversionFactor` (u = a·r + b, the offset b reaching only DC as b·V) in f64 and
//! rounds once to the output type, and refuses non-finite values naming the dataset and the flat index.

use hdf5::Dataset;
use ndarray::{s, Array1, Array2, ArrayView1, Axis};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use rustfft::FftPlanner;
use std::os::unix::fs::FileExt;

use super::util::{complex_width, h5err};
use super::MdfReader;
use crate::mdf::spectra::{decode_sparse_row, sparsity_transform};
use crate::mdf::{MdfError, MdfResult, RowId, SystemMatrixRows};

const DATA: &str = "/measurement/data";

/// Default bound of the staging memory of one row read, shared by all threads [bytes].
///
/// Small pieces keep the staged bytes in the core's L2 cache between the read and the conversion: on the 19³
/// matrix (BENCHMARKS.md, 2 cores with 2 MiB of L2 each) a run of consecutive rows read at 2.5–3.0 GB/s with
/// 0.5–2 MiB of staging and at 1.6 GB/s with 64 MiB, while the per-read overhead stays negligible (a piece is
/// still ≈ 18 rows of 56 kB).
pub const DEFAULT_STAGING_BYTES: usize = 2 << 20;

/// Extra bytes libhdf5 may allocate for a type conversion during a hyperslab read (its default type-conversion
/// buffer is 1 MiB).
const HDF5_CONVERSION_BYTES: u64 = 1 << 20;

/// Options of a row read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowReadOptions {
    /// Upper bound of the staging buffers of all threads together [bytes]; a run of consecutive rows longer
    /// than its share is read in several pieces. At least one row per thread is always staged.
    pub staging_bytes: usize,
    /// Convert (and, on the direct path, read) in parallel on the current rayon pool; `false` runs on the
    /// calling thread only. Results do not depend on it.
    pub parallel: bool,
    /// Refuse the read, before allocating, when its estimate ([`RowReadEstimate::total_bytes`]) exceeds
    /// this many bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Never take the direct path (read through libhdf5 hyperslabs even where positioned reads would do);
    /// for measurements and tests.
    pub hyperslab_only: bool,
}

impl Default for RowReadOptions {
    fn default() -> Self {
        RowReadOptions {
            staging_bytes: DEFAULT_STAGING_BYTES,
            parallel: true,
            memory_limit_bytes: None,
            hyperslab_only: false,
        }
    }
}

impl RowReadOptions {
    /// Sets [`Self::staging_bytes`].
    pub fn with_staging_bytes(mut self, bytes: usize) -> Self {
        self.staging_bytes = bytes;
        self
    }

    /// Sets [`Self::parallel`].
    pub fn with_parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    /// Sets [`Self::memory_limit_bytes`].
    pub fn with_memory_limit_bytes(mut self, limit: Option<u64>) -> Self {
        self.memory_limit_bytes = limit;
        self
    }

    /// Sets [`Self::hyperslab_only`].
    pub fn with_hyperslab_only(mut self, on: bool) -> Self {
        self.hyperslab_only = on;
        self
    }
}

/// How a row read gets its bytes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowReadPath {
    /// Positioned reads of the contiguous dataset's bytes, per run of consecutive rows.
    Direct,
    /// One libhdf5 hyperslab read per run of consecutive rows of one (period, channel).
    Hyperslab,
    /// The row-by-row reader (layouts other than the processed one).
    PerRow,
}

/// What a row read will allocate, estimated before allocating anything large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowReadEstimate {
    /// The path the read takes.
    pub path: RowReadPath,
    /// Rows read (R).
    pub rows: usize,
    /// The final buffers: R × (O + E) × the output element size [bytes].
    pub output_bytes: u64,
    /// Staging buffers alive at once [bytes].
    pub staging_bytes: u64,
    /// Other temporary memory of the path (per-row buffers, Fourier-transformed time blocks) [bytes].
    pub transient_bytes: u64,
    /// Output bytes per row [bytes].
    pub bytes_per_row: u64,
}

impl RowReadEstimate {
    /// Peak bytes the read allocates: output + staging + transient.
    pub fn total_bytes(&self) -> u64 {
        self.output_bytes + self.staging_bytes + self.transient_bytes
    }

    /// The largest number of rows whose read fits in `limit_bytes`, staging and transient memory included
    /// (these do not grow with the row count).
    pub fn max_rows_within(&self, limit_bytes: u64) -> usize {
        let fixed = self.staging_bytes + self.transient_bytes;
        if self.bytes_per_row == 0 {
            return if limit_bytes >= fixed { usize::MAX } else { 0 };
        }
        (limit_bytes.saturating_sub(fixed) / self.bytes_per_row) as usize
    }
}

/// A planned row read: the rows checked, the path chosen, the runs laid out and the memory estimated, but
/// nothing large allocated yet. Made by [`MdfReader::plan_row_read`].
#[derive(Debug)]
pub struct RowReadPlan<'r> {
    reader: &'r MdfReader,
    rows: Vec<RowId>,
    opts: RowReadOptions,
    geo: Geometry,
    mode: Mode,
    pieces: Vec<Piece>,
    estimate: RowReadEstimate,
}

/// Row geometry of the stored data: (J, C, K), stored values per row, and which are foreground.
#[derive(Debug, Clone)]
struct Geometry {
    dims: [usize; 3],
    /// Values per stored row (N, or B + E when sparsity-compressed).
    n: usize,
    fg: Vec<usize>,
    bg: Vec<usize>,
    /// `Some(O)` when the foreground is the first O values and the background the rest (the processed
    /// layout), so rows are split with two slice copies instead of a gather.
    split: Option<usize>,
    /// Per channel (a, b) of dataConversionFactor.
    conversion: Option<Vec<(f64, f64)>>,
    /// V, for the DC offset b·V.
    v: f64,
    /// Whether stored frequency index k is DC.
    is_dc: Vec<bool>,
}

impl Geometry {
    fn linear(&self, id: &RowId) -> usize {
        (id.period * self.dims[1] + id.channel) * self.dims[2] + id.k
    }

    /// (a, dc) of a row: u = a·r + dc.
    fn scale(&self, id: &RowId) -> Option<(f64, f64)> {
        let conv = self.conversion.as_ref()?;
        let (a, b) = conv[id.channel];
        Some((a, if self.is_dc[id.k] { b * self.v } else { 0.0 }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct { width: usize, offset: u64 },
    Hyperslab { width: usize },
    PerRow,
}

/// Consecutive output rows `out..out + len` that are consecutive stored rows `linear..linear + len`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    out: usize,
    linear: usize,
    len: usize,
}

impl MdfReader {
    /// Every row id of the stored system matrix, ordered (j, c, k) with k fastest.
    pub fn all_rows(&self) -> Vec<RowId> {
        let (j, c, k) = self.row_dims();
        (0..j).flat_map(|j| (0..c).flat_map(move |c| (0..k).map(move |k| RowId { period: j, channel: c, k }))).collect()
    }

    /// (J, C, K stored).
    pub fn row_dims(&self) -> (usize, usize, usize) {
        let f = &self.header;
        let v = f.acquisition.receiver.num_sampling_points.max(0) as usize;
        let k = f
            .measurement
            .as_ref()
            .and_then(|m| m.layout.frequency_selection.as_ref().filter(|_| m.layout.is_frequency_selection))
            .map_or(v / 2 + 1, |s| s.len());
        (f.num_periods(), f.acquisition.receiver.num_channels.max(0) as usize, k)
    }

    /// The stored frequency axis as 0-based rFFT bins.
    pub fn stored_frequencies(&self) -> Vec<usize> {
        let v = self.header.acquisition.receiver.num_sampling_points.max(0) as usize;
        self.header
            .measurement
            .as_ref()
            .and_then(|m| m.layout.frequency_selection.clone().filter(|_| m.layout.is_frequency_selection))
            .unwrap_or_else(|| (0..v / 2 + 1).collect())
    }

    /// Reads the given rows of the system matrix, converted to the receiver's unit, as complex f64.
    /// Foreground columns are the foreground frames in grid order, x fastest (the stored order of a processed
    /// calibration file; a meandering acquisition, `/calibration/isMeanderingGrid = 1` with
    /// `isFramePermutation = 0`, is undone).
    ///
    /// Takes the same paths as [`Self::system_matrix_rows_c32`] (which needs half the memory); the values
    /// are the stored ones widened to f64 before the conversion factor is applied.
    ///
    /// # Errors
    /// As [`Self::plan_row_read`] and [`RowReadPlan::read`].
    pub fn system_matrix_rows(&self, rows: &[RowId]) -> MdfResult<SystemMatrixRows> {
        self.plan_row_read(rows, &RowReadOptions::default())?.read_as::<Complex64>()
    }

    /// Reads the given rows straight into contiguous row-major complex-f32 buffers (foreground `[R, O]`,
    /// background `[R, E]`), with the default [`RowReadOptions`]. Rows given in stored (j, c, k) order read
    /// fastest: a run of consecutive rows is one read.
    ///
    /// To check the memory first, use [`Self::plan_row_read`], look at [`RowReadPlan::estimate`], then
    /// [`RowReadPlan::read`].
    ///
    /// # Errors
    /// As [`Self::plan_row_read`] and [`RowReadPlan::read`].
    pub fn system_matrix_rows_c32(&self, rows: &[RowId]) -> MdfResult<SystemMatrixRows<Complex32>> {
        self.plan_row_read(rows, &RowReadOptions::default())?.read()
    }

    /// Estimates what reading `n_rows` rows as complex f32 would allocate, without reading or checking
    /// rows (for sizing a selection before making it). The staging estimate assumes runs at least as long as
    /// a staging piece, an upper bound.
    ///
    /// # Errors
    /// A file without measurement data, or HDF5 failures while inspecting the dataset.
    pub fn estimate_row_read(&self, n_rows: usize, opts: &RowReadOptions) -> MdfResult<RowReadEstimate> {
        let geo = self.geometry()?;
        let mode = self.choose_mode(&geo, opts, None)?;
        let row_bytes = stored_row_bytes(&geo, mode);
        let piece_rows = piece_rows(opts, row_bytes);
        let longest = piece_rows.min(n_rows.max(1));
        Ok(self.estimate_for(&geo, mode, n_rows, longest, n_rows.div_ceil(longest.max(1)), opts, 8))
    }

    /// Plans a read of the given rows (in that order; repeats allowed): checks every row against the stored
    /// dimensions, chooses the read path, groups consecutive rows into runs split at the staging bound, and
    /// estimates the memory. Allocates nothing proportional to the data.
    ///
    /// # Errors
    /// [`MdfError::RowOutOfRange`] for a row outside the stored (J, C, K); [`MdfError::MemoryLimit`] when
    /// `opts.memory_limit_bytes` is below the estimate; [`MdfError::Missing`] without measurement data; HDF5
    /// or I/O failures while inspecting the dataset.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use magpie_core::mdf::example::small_system_matrix;
    /// use magpie_core::mdf::{write_mdf, MdfError, MdfReader, RowReadOptions, WriteOptions};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sm.mdf");
    /// write_mdf(&path, &small_system_matrix([4, 4, 1], 2, 1, 32), &WriteOptions::default())?;
    /// let reader = MdfReader::open(&path)?;
    /// let rows: Vec<_> = reader.all_rows().into_iter().step_by(2).collect();
    /// // Refuse, before allocating, a read that would not fit in the memory at hand.
    /// let opts = RowReadOptions::default().with_memory_limit_bytes(Some(1 << 30));
    /// let plan = reader.plan_row_read(&rows, &opts)?;
    /// assert!(plan.estimate().total_bytes() < 1 << 20);
    /// let sm = plan.read()?;
    /// // One contiguous row-major [R, O] buffer of the 16 voxels; the 2 background frames apart.
    /// let s: &[num_complex::Complex32] = sm.foreground.as_slice().expect("row-major");
    /// assert_eq!((s.len(), sm.background.ncols()), (rows.len() * 16, 2));
    /// // Too small a limit: the error names the figure and how many rows would fit.
    /// let tight = RowReadOptions::default().with_memory_limit_bytes(Some(1000));
    /// assert!(matches!(reader.plan_row_read(&rows, &tight), Err(MdfError::MemoryLimit { .. })));
    /// # Ok(()) }
    /// ```
    pub fn plan_row_read(&self, rows: &[RowId], opts: &RowReadOptions) -> MdfResult<RowReadPlan<'_>> {
        let geo = self.geometry()?;
        let [jn, cn, kn] = geo.dims;
        if let Some(bad) = rows.iter().find(|r| r.period >= jn || r.channel >= cn || r.k >= kn) {
            return Err(MdfError::RowOutOfRange {
                dataset: DATA.into(),
                row: [bad.period, bad.channel, bad.k],
                dims: geo.dims,
            });
        }
        let mode = self.choose_mode(&geo, opts, rows.first())?;
        let pieces = match mode {
            Mode::Direct { .. } | Mode::Hyperslab { .. } => {
                let max = piece_rows(opts, stored_row_bytes(&geo, mode));
                make_pieces(&geo, rows, max, matches!(mode, Mode::Hyperslab { .. }))
            }
            Mode::PerRow => Vec::new(),
        };
        let longest = pieces.iter().map(|p| p.len).max().unwrap_or(0);
        let estimate = self.estimate_for(&geo, mode, rows.len(), longest, pieces.len(), opts, 8);
        let plan = RowReadPlan { reader: self, rows: rows.to_vec(), opts: opts.clone(), geo, mode, pieces, estimate };
        plan.check_limit(8)?;
        Ok(plan)
    }

    fn geometry(&self) -> MdfResult<Geometry> {
        let m = self
            .header
            .measurement
            .as_ref()
            .ok_or_else(|| MdfError::Missing { dataset: "/measurement".into(), context: String::new() })?;
        let l = &m.layout;
        let (jn, cn, kn) = self.row_dims();
        let frames = l.num_frames();
        // Grid order, with a meandering acquisition undone (the same columns as the in-memory reader gives).
        let fg = crate::mdf::spectra::foreground_frames(&self.header)?;
        let bg: Vec<usize> = (0..frames).filter(|i| l.is_background_frame[*i]).collect();
        let o = fg.len();
        let split = (fg.iter().enumerate().all(|(i, f)| i == *f) && bg.iter().enumerate().all(|(i, b)| o + i == *b))
            .then_some(o);
        let n = if l.is_sparsity_transformed {
            self.measurement_data_shape.as_ref().and_then(|s| s.last().copied()).unwrap_or(frames)
        } else {
            frames
        };
        let rx = &self.header.acquisition.receiver;
        let conversion =
            rx.data_conversion_factor.as_ref().map(|c| (0..cn).map(|ch| (c[[ch, 0]], c[[ch, 1]])).collect());
        let is_dc = self.stored_frequencies().iter().map(|f| *f == 0).collect();
        Ok(Geometry { dims: [jn, cn, kn], n, fg, bg, split, conversion, v: rx.num_sampling_points as f64, is_dc })
    }

    /// The read path for this file. `probe` is a row used to cross-check the direct path against libhdf5.
    fn choose_mode(&self, geo: &Geometry, opts: &RowReadOptions, probe: Option<&RowId>) -> MdfResult<Mode> {
        let l = &self.header.measurement.as_ref().expect("geometry() checked the measurement").layout;
        let ds = self.h5.dataset(DATA)?;
        let td = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(DATA, e))?;
        let Some(width) = complex_width(&td) else { return Ok(Mode::PerRow) };
        let shape = ds.shape();
        let processed = l.is_fourier_transformed && l.is_fast_frame_axis && !l.is_sparsity_transformed;
        if !processed || shape.len() != 4 || shape[3] != geo.n {
            return Ok(Mode::PerRow);
        }
        if opts.hyperslab_only {
            return Ok(Mode::Hyperslab { width });
        }
        match direct_offset(self, &ds, width, geo, probe) {
            Ok(Some(offset)) => Ok(Mode::Direct { width, offset }),
            Ok(None) => Ok(Mode::Hyperslab { width }),
            Err(e) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn estimate_for(
        &self,
        geo: &Geometry,
        mode: Mode,
        rows: usize,
        longest_piece: usize,
        n_pieces: usize,
        opts: &RowReadOptions,
        out_elem: u64,
    ) -> RowReadEstimate {
        let bytes_per_row = (geo.fg.len() + geo.bg.len()) as u64 * out_elem;
        let row_bytes = stored_row_bytes(geo, mode) as u64;
        let (staging, transient) = match mode {
            Mode::Direct { .. } => {
                let threads = if opts.parallel { rayon::current_num_threads().max(1) } else { 1 };
                (threads.min(n_pieces.max(1)) as u64 * longest_piece as u64 * row_bytes, 0)
            }
            // The piece being converted and the next one being read are alive together.
            Mode::Hyperslab { .. } => {
                let live = if opts.parallel && n_pieces > 1 { 2 } else { 1 };
                (live * longest_piece as u64 * row_bytes + HDF5_CONVERSION_BYTES, 0)
            }
            Mode::PerRow => (0, self.per_row_transient(geo)),
        };
        RowReadEstimate {
            path: match mode {
                Mode::Direct { .. } => RowReadPath::Direct,
                Mode::Hyperslab { .. } => RowReadPath::Hyperslab,
                Mode::PerRow => RowReadPath::PerRow,
            },
            rows,
            output_bytes: rows as u64 * bytes_per_row,
            staging_bytes: staging,
            transient_bytes: transient,
            bytes_per_row,
        }
    }

    /// Temporary memory of the row-by-row reader: a few rows of complex f64, and for time-domain data one
    /// (j, c) block of raw samples and its spectra.
    fn per_row_transient(&self, geo: &Geometry) -> u64 {
        let l = &self.header.measurement.as_ref().expect("checked").layout;
        let frames = l.num_frames() as u64;
        let rows = 4 * (geo.n.max(geo.fg.len() + geo.bg.len()) as u64) * 16;
        if l.is_fourier_transformed {
            rows
        } else {
            let v = self.header.acquisition.receiver.num_sampling_points.max(0) as u64;
            // Raw block as f64 (and its transposed copy for a fast frame axis), spectra [N, V/2+1], FFT buffer.
            rows + frames * v * 8 * 2 + frames * (v / 2 + 1) * 16 + v * 16
        }
    }
}

/// Bytes of one stored row as the path stages it.
fn stored_row_bytes(geo: &Geometry, mode: Mode) -> usize {
    match mode {
        Mode::Direct { width, .. } | Mode::Hyperslab { width } => geo.n * 2 * width,
        Mode::PerRow => geo.n * 16,
    }
}

/// Rows per staging piece: each thread's share of the staging bound, at least one row.
fn piece_rows(opts: &RowReadOptions, row_bytes: usize) -> usize {
    let threads = if opts.parallel { rayon::current_num_threads().max(1) } else { 1 };
    (opts.staging_bytes / threads / row_bytes.max(1)).max(1)
}

/// Splits the request into runs of consecutive stored rows (in request order), each at most `max` rows;
/// with `per_block` a run also stays within one (j, c), as a regular hyperslab must.
fn make_pieces(geo: &Geometry, rows: &[RowId], max: usize, per_block: bool) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for (i, id) in rows.iter().enumerate() {
        let lin = geo.linear(id);
        if let Some(p) = out.last_mut() {
            let same_block = !per_block || lin / geo.dims[2] == p.linear / geo.dims[2];
            if p.linear + p.len == lin && p.len < max && same_block {
                p.len += 1;
                continue;
            }
        }
        out.push(Piece { out: i, linear: lin, len: 1 });
    }
    out
}

/// The file offset of the data when the direct path applies: contiguous, unfiltered storage of a type
/// byte-identical to the native complex type, the file long enough, and a probe row identical through
/// libhdf5 and through a positioned read. `Ok(None)` means "use libhdf5".
fn direct_offset(
    reader: &MdfReader,
    ds: &Dataset,
    width: usize,
    geo: &Geometry,
    probe: Option<&RowId>,
) -> MdfResult<Option<u64>> {
    if ds.is_chunked() || !ds.filters().is_empty() {
        return Ok(None);
    }
    let Some(offset) = ds.offset() else { return Ok(None) };
    let dtype = ds.dtype().map_err(|e| h5err(DATA, e))?;
    let native = match width {
        4 => dtype.conv_to::<Complex32>(),
        8 => dtype.conv_to::<Complex64>(),
        _ => None,
    };
    if native != Some(hdf5::Conversion::NoOp) {
        tracing::debug!("{DATA}: stored complex type is not the native one; reading through libhdf5");
        return Ok(None);
    }
    let total = (ds.size() * 2 * width) as u64;
    let file_len = std::fs::metadata(reader.path()).map(|m| m.len()).unwrap_or(0);
    if offset.checked_add(total).is_none_or(|end| end > file_len) {
        return Ok(None);
    }
    let Some(id) = probe else { return Ok(Some(offset)) };
    let file = open_data_file(reader)?;
    let start = offset + (geo.linear(id) * geo.n * 2 * width) as u64;
    let mut raw = vec![0u8; geo.n * 2 * width];
    file.read_exact_at(&mut raw, start).map_err(|e| MdfError::Io { path: reader.path().to_path_buf(), source: e })?;
    let sel = s![id.period, id.channel, id.k, ..];
    let same = if width == 4 {
        let a: Array1<Complex32> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
        a.iter().zip(raw.chunks_exact(8)).all(|(z, b)| {
            let w = <[u8; 8]>::try_from(b).map(|b| b.parts()).unwrap_or((f64::NAN, f64::NAN));
            (z.re as f64).to_bits() == w.0.to_bits() && (z.im as f64).to_bits() == w.1.to_bits()
        })
    } else {
        let a: Array1<Complex64> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
        a.iter().zip(raw.chunks_exact(16)).all(|(z, b)| {
            let w = <[u8; 16]>::try_from(b).map(|b| b.parts()).unwrap_or((f64::NAN, f64::NAN));
            z.re.to_bits() == w.0.to_bits() && z.im.to_bits() == w.1.to_bits()
        })
    };
    if !same {
        tracing::warn!(
            "{DATA}: a row read at the dataset's file offset differs from libhdf5's; reading through libhdf5"
        );
        return Ok(None);
    }
    Ok(Some(offset))
}

fn open_data_file(reader: &MdfReader) -> MdfResult<std::fs::File> {
    std::fs::File::open(reader.path()).map_err(|e| MdfError::Io { path: reader.path().to_path_buf(), source: e })
}

// ---------------------------------------------------------------------------------------------------------
// Element types

/// A stored complex element, as typed by libhdf5 or as the raw native bytes of the direct path.
trait Stored: Copy + Default + Send + Sync {
    /// (re, im) widened to f64.
    fn parts(&self) -> (f64, f64);
}

impl Stored for Complex32 {
    fn parts(&self) -> (f64, f64) {
        (self.re as f64, self.im as f64)
    }
}

impl Stored for Complex64 {
    fn parts(&self) -> (f64, f64) {
        (self.re, self.im)
    }
}

// The direct path's staging holds raw bytes; `direct_offset` checked that they are in the native layout
// (member r at offset 0, i after it, native byte order), so decoding with `from_ne_bytes` is exact.
impl Stored for [u8; 8] {
    fn parts(&self) -> (f64, f64) {
        let [a, b, c, d, e, f, g, h] = *self;
        (f32::from_ne_bytes([a, b, c, d]) as f64, f32::from_ne_bytes([e, f, g, h]) as f64)
    }
}

impl Stored for [u8; 16] {
    fn parts(&self) -> (f64, f64) {
        let mut re = [0u8; 8];
        let mut im = [0u8; 8];
        re.copy_from_slice(&self[..8]);
        im.copy_from_slice(&self[8..]);
        (f64::from_ne_bytes(re), f64::from_ne_bytes(im))
    }
}

/// An output element: complex f32 (the new reader) or complex f64 (the historical one).
pub(crate) trait OutElem: Copy + Default + Send + Sync + std::fmt::Debug + bytemuck::Zeroable + 'static {
    /// Bytes per element.
    const BYTES: u64;
    /// Rounds (re, im) to the output type.
    fn from_parts(re: f64, im: f64) -> Self;
    /// Both parts finite.
    fn finite(&self) -> bool;
}

impl OutElem for Complex32 {
    const BYTES: u64 = 8;
    fn from_parts(re: f64, im: f64) -> Self {
        Complex32::new(re as f32, im as f32)
    }
    fn finite(&self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

impl OutElem for Complex64 {
    const BYTES: u64 = 16;
    fn from_parts(re: f64, im: f64) -> Self {
        Complex64::new(re, im)
    }
    fn finite(&self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

/// Converts one stored row into its foreground and background output rows. Returns the stored column of
/// the first non-finite output value, if any. Checking the *output* also catches a finite value that the
/// conversion factor pushes past the f32 range.
fn convert_row<S: Stored, T: OutElem>(
    src: &[S],
    geo: &Geometry,
    scale: Option<(f64, f64)>,
    fg: &mut [T],
    bg: &mut [T],
) -> Option<usize> {
    #[inline(always)]
    fn conv<S: Stored, T: OutElem>(z: &S, scale: Option<(f64, f64)>) -> T {
        let (re, im) = z.parts();
        match scale {
            Some((a, dc)) => T::from_parts(re * a + dc, im * a),
            None => T::from_parts(re, im),
        }
    }
    let mut ok = true;
    match geo.split {
        Some(o) => {
            let (sf, sb) = src.split_at(o);
            for (d, z) in fg.iter_mut().zip(sf) {
                *d = conv(z, scale);
                ok &= d.finite();
            }
            for (d, z) in bg.iter_mut().zip(sb) {
                *d = conv(z, scale);
                ok &= d.finite();
            }
        }
        None => {
            for (d, &i) in fg.iter_mut().zip(&geo.fg) {
                *d = conv(&src[i], scale);
                ok &= d.finite();
            }
            for (d, &i) in bg.iter_mut().zip(&geo.bg) {
                *d = conv(&src[i], scale);
                ok &= d.finite();
            }
        }
    }
    if ok {
        return None;
    }
    // Rare: locate the first offending stored column.
    let bad_fg = fg.iter().position(|z| !z.finite()).map(|c| geo.fg[c]);
    let bad_bg = bg.iter().position(|z| !z.finite()).map(|c| geo.bg[c]);
    match (bad_fg, bad_bg) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Execution

impl RowReadPlan<'_> {
    /// The memory the read will allocate (for complex-f32 output).
    pub fn estimate(&self) -> &RowReadEstimate {
        &self.estimate
    }

    /// The path the read takes.
    pub fn path(&self) -> RowReadPath {
        self.estimate.path
    }

    /// The rows, in output order.
    pub fn rows(&self) -> &[RowId] {
        &self.rows
    }

    /// The number of reads the bulk data take: one per staging piece (a run of consecutive rows, split at
    /// the staging bound) on the direct and hyperslab paths, one per row on the row-by-row path.
    pub fn num_reads(&self) -> usize {
        match self.mode {
            Mode::PerRow => self.rows.len(),
            _ => self.pieces.len(),
        }
    }

    /// Reads the rows into contiguous row-major complex-f32 buffers.
    ///
    /// # Errors
    /// [`MdfError::NonFinite`] naming the dataset and the flat C-order index of the first non-finite value (in
    /// request order); HDF5 or I/O failures; errors of the layout (e.g. a sparsity-compressed file without
    /// `/calibration/size`).
    pub fn read(&self) -> MdfResult<SystemMatrixRows<Complex32>> {
        self.read_as::<Complex32>()
    }

    fn check_limit(&self, out_elem: u64) -> MdfResult<()> {
        let Some(limit) = self.opts.memory_limit_bytes else { return Ok(()) };
        let est = if out_elem == 8 {
            self.estimate
        } else {
            let longest = self.pieces.iter().map(|p| p.len).max().unwrap_or(0);
            self.reader.estimate_for(
                &self.geo,
                self.mode,
                self.rows.len(),
                longest,
                self.pieces.len(),
                &self.opts,
                out_elem,
            )
        };
        if est.total_bytes() > limit {
            return Err(MdfError::MemoryLimit {
                dataset: DATA.into(),
                rows: self.rows.len(),
                needed_bytes: est.total_bytes(),
                limit_bytes: limit,
                max_rows: est.max_rows_within(limit),
            });
        }
        Ok(())
    }

    /// Reads the rows into `out`, reusing its buffers when they hold the right number of elements (as after
    /// an earlier read of a selection of the same size): such a read writes into memory already touched, which
    /// on a virtual machine is much cheaper than first-touching fresh pages (BENCHMARKS.md). On error `out`
    /// is left empty.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_into(&self, out: &mut SystemMatrixRows<Complex32>) -> MdfResult<()> {
        let fg = std::mem::replace(&mut out.foreground, Array2::zeros((0, 0))).into_raw_vec_and_offset().0;
        let bg = std::mem::replace(&mut out.background, Array2::zeros((0, 0))).into_raw_vec_and_offset().0;
        out.rows.clear();
        *out = self.read_with(Some((fg, bg)))?;
        Ok(())
    }

    pub(crate) fn read_as<T: OutElem>(&self) -> MdfResult<SystemMatrixRows<T>> {
        self.read_with(None)
    }

    fn read_with<T: OutElem>(&self, reuse: Option<(Vec<T>, Vec<T>)>) -> MdfResult<SystemMatrixRows<T>> {
        let _span = tracing::debug_span!("read_sm_rows", rows = self.rows.len(), path = ?self.estimate.path).entered();
        self.check_limit(T::BYTES)?;
        let (r, o, e) = (self.rows.len(), self.geo.fg.len(), self.geo.bg.len());
        // Every element is overwritten below, so reused buffers need no clearing. Fresh ones are zeroed
        // allocations, which come from the OS as untouched pages (`vec![T::default(); n]` would memset them on
        // one thread before the read starts): their pages are first touched by the parallel conversion.
        let buffer = |old: Option<Vec<T>>, len: usize| match old {
            Some(v) if v.len() == len => v,
            _ => {
                let mut v = bytemuck::zeroed_vec(len);
                // Before the first touch: the solvers stream these rows (see `crate::mem`).
                crate::mem::advise_huge_pages(&mut v);
                v
            }
        };
        let (old_fg, old_bg) = reuse.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        let mut fg = buffer(old_fg, r * o);
        let mut bg = buffer(old_bg, r * e);
        match self.mode {
            Mode::Direct { width: 4, offset } => self.read_direct::<[u8; 8], T>(offset, &mut fg, &mut bg)?,
            Mode::Direct { offset, .. } => self.read_direct::<[u8; 16], T>(offset, &mut fg, &mut bg)?,
            Mode::Hyperslab { width: 4 } => self.read_hyperslab::<Complex32, T>(&mut fg, &mut bg)?,
            Mode::Hyperslab { .. } => self.read_hyperslab::<Complex64, T>(&mut fg, &mut bg)?,
            Mode::PerRow => self.read_per_row(&mut fg, &mut bg)?,
        }
        let shape_err = |e: ndarray::ShapeError| MdfError::invalid(DATA, e.to_string());
        Ok(SystemMatrixRows {
            rows: self.rows.clone(),
            foreground: Array2::from_shape_vec((r, o), fg).map_err(shape_err)?,
            background: Array2::from_shape_vec((r, e), bg).map_err(shape_err)?,
        })
    }

    /// Splits the output buffers into one (foreground, background) slice pair per piece.
    fn split_outputs<'a, T>(&self, mut fg: &'a mut [T], mut bg: &'a mut [T]) -> Vec<(Piece, &'a mut [T], &'a mut [T])> {
        let (o, e) = (self.geo.fg.len(), self.geo.bg.len());
        let mut out = Vec::with_capacity(self.pieces.len());
        for p in &self.pieces {
            let (a, rest) = std::mem::take(&mut fg).split_at_mut(p.len * o);
            fg = rest;
            let (b, rest) = std::mem::take(&mut bg).split_at_mut(p.len * e);
            bg = rest;
            out.push((*p, a, b));
        }
        out
    }

    /// Converts the staged rows of one piece into its output slices.
    fn convert_piece<S: Stored, T: OutElem>(
        &self,
        p: &Piece,
        staged: &[S],
        fg: &mut [T],
        bg: &mut [T],
    ) -> MdfResult<()> {
        let (n, o, e) = (self.geo.n, self.geo.fg.len(), self.geo.bg.len());
        for i in 0..p.len {
            let id = &self.rows[p.out + i];
            let src = &staged[i * n..(i + 1) * n];
            let scale = self.geo.scale(id);
            if let Some(col) =
                convert_row(src, &self.geo, scale, &mut fg[i * o..(i + 1) * o], &mut bg[i * e..(i + 1) * e])
            {
                return Err(MdfError::NonFinite { dataset: DATA.into(), index: (p.linear + i) * n + col });
            }
        }
        Ok(())
    }

    fn read_direct<S: Stored, T: OutElem>(&self, offset: u64, fg: &mut [T], bg: &mut [T]) -> MdfResult<()>
    where
        [S]: AsFlatBytes,
    {
        let file = open_data_file(self.reader)?;
        let n = self.geo.n;
        let elem = std::mem::size_of::<S>() as u64;
        let capacity = self.pieces.iter().map(|p| p.len).max().unwrap_or(0) * n;
        let io_err = |e| MdfError::Io { path: self.reader.path().to_path_buf(), source: e };
        let work = |staging: &mut Vec<S>, (p, f, b): (Piece, &mut [T], &mut [T])| -> MdfResult<()> {
            let staged = &mut staging[..p.len * n];
            file.read_exact_at(staged.as_flat_bytes_mut(), offset + (p.linear * n) as u64 * elem).map_err(io_err)?;
            self.convert_piece(&p, staged, f, b)
        };
        let jobs = self.split_outputs(fg, bg);
        if self.opts.parallel && jobs.len() > 1 {
            // A handful of work units per thread balances the load while allocating few staging buffers (one
            // per unit, each the largest piece).
            let threads = rayon::current_num_threads().max(1);
            let min_len = (jobs.len() / (4 * threads)).max(1);
            let results: Vec<MdfResult<()>> = jobs
                .into_par_iter()
                .with_min_len(min_len)
                .map_init(|| vec![S::default(); capacity], |st, job| work(st, job))
                .collect();
            results.into_iter().collect()
        } else {
            let mut st = vec![S::default(); capacity];
            jobs.into_iter().try_for_each(|job| work(&mut st, job))
        }
    }

    fn read_hyperslab<S: Stored + hdf5::H5Type, T: OutElem>(&self, fg: &mut [T], bg: &mut [T]) -> MdfResult<()> {
        let ds = self.reader.h5.dataset(DATA)?;
        let [_, _, kn] = self.geo.dims;
        let read = |p: &Piece| -> MdfResult<Array2<S>> {
            let (jc, k0) = (p.linear / kn, p.linear % kn);
            let (j, c) = (jc / self.geo.dims[1], jc % self.geo.dims[1]);
            ds.read_slice_2d(s![j, c, k0..k0 + p.len, ..]).map_err(|e| h5err(DATA, e))
        };
        let convert = |a: &Array2<S>, (p, f, b): (Piece, &mut [T], &mut [T])| -> MdfResult<()> {
            let staged = a.as_slice().ok_or_else(|| MdfError::invalid(DATA, "hyperslab not in standard layout"))?;
            if !self.opts.parallel {
                return self.convert_piece(&p, staged, f, b);
            }
            let (n, o, e) = (self.geo.n, self.geo.fg.len(), self.geo.bg.len());
            // Parallel over the piece's rows, one output row pair each.
            let rows: Vec<(usize, &mut [T], &mut [T])> =
                f.chunks_mut(o.max(1)).zip(b.chunks_mut(e.max(1))).enumerate().map(|(i, (x, y))| (i, x, y)).collect();
            rows.into_par_iter().try_for_each(|(i, x, y)| {
                let one = Piece { out: p.out + i, linear: p.linear + i, len: 1 };
                self.convert_piece(&one, &staged[i * n..(i + 1) * n], x, y)
            })
        };
        let mut jobs = self.split_outputs(fg, bg).into_iter();
        let Some(mut cur_job) = jobs.next() else { return Ok(()) };
        let mut cur = read(&cur_job.0)?;
        loop {
            let next_job = jobs.next();
            // Overlap: convert this piece while libhdf5 reads the next one (libhdf5 itself is serialised).
            let (done, next) = match &next_job {
                Some(nj) if self.opts.parallel => rayon::join(|| convert(&cur, cur_job), || Some(read(&nj.0))),
                Some(nj) => (convert(&cur, cur_job), Some(read(&nj.0))),
                None => (convert(&cur, cur_job), None),
            };
            done?;
            match (next_job, next) {
                (Some(nj), Some(a)) => {
                    cur = a?;
                    cur_job = nj;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The row-by-row reader for every other layout, converting each row into the output as it goes.
    fn read_per_row<T: OutElem>(&self, fgo: &mut [T], bgo: &mut [T]) -> MdfResult<()> {
        let reader = self.reader;
        let l = &reader.header.measurement.as_ref().expect("checked by geometry()").layout;
        let geo = &self.geo;
        let (o, e) = (geo.fg.len(), geo.bg.len());
        let [jn, cn, kn] = geo.dims;
        let ds = reader.h5.dataset(DATA)?;
        let td = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(DATA, e))?;
        let width = complex_width(&td);
        let mut put = |r: usize, row: ArrayView1<Complex64>, flat: &dyn Fn(usize) -> usize| -> MdfResult<()> {
            let id = &self.rows[r];
            let src = row.as_slice().ok_or_else(|| MdfError::invalid(DATA, "row not contiguous"))?;
            let (f, b) = (&mut fgo[r * o..(r + 1) * o], &mut bgo[r * e..(r + 1) * e]);
            match convert_row(src, geo, geo.scale(id), f, b) {
                Some(col) => Err(MdfError::NonFinite { dataset: DATA.into(), index: flat(col) }),
                None => Ok(()),
            }
        };
        if l.is_sparsity_transformed {
            let t = sparsity_transform(&reader.header)?;
            let idx = l.subsampling_indices.as_ref().ok_or_else(|| MdfError::Missing {
                dataset: "/measurement/subsamplingIndices".into(),
                context: " (isSparsityTransformed = 1)".into(),
            })?;
            let b = idx.shape()[3];
            let n = geo.n;
            // The decoded row in canonical order: O foreground values, then the E background ones.
            let canon = Geometry { split: Some(o), fg: (0..o).collect(), bg: (o..o + e).collect(), ..geo.clone() };
            let mut dec = Array1::<Complex64>::zeros(o + e);
            for (r, id) in self.rows.iter().enumerate() {
                let row = read_row(&ds, s![id.period, id.channel, id.k, ..], width)?;
                let base = geo.linear(id) * n;
                if let Some(i) = row.iter().position(|z| !(z.re.is_finite() && z.im.is_finite())) {
                    return Err(MdfError::NonFinite { dataset: DATA.into(), index: base + i });
                }
                let ind = idx.slice(s![id.period, id.channel, id.k, ..]);
                decode_sparse_row(&t, row.slice(s![..b]), ind, dec.slice_mut(s![..o]))?;
                dec.slice_mut(s![o..]).assign(&row.slice(s![b..]));
                let src = dec.as_slice().ok_or_else(|| MdfError::invalid(DATA, "row not contiguous"))?;
                let (f, bb) = (&mut fgo[r * o..(r + 1) * o], &mut bgo[r * e..(r + 1) * e]);
                if let Some(col) = convert_row(src, &canon, geo.scale(id), f, bb) {
                    // A background value maps back to its stored column; a foreground value decoded from finite
                    // coefficients has no single stored origin, so the row's first coefficient is named.
                    let stored = if col >= o { b + col - o } else { 0 };
                    return Err(MdfError::NonFinite { dataset: DATA.into(), index: base + stored });
                }
            }
        } else if l.is_fourier_transformed {
            let n = geo.n;
            for (r, id) in self.rows.iter().enumerate() {
                let lin = geo.linear(id);
                if l.is_fast_frame_axis {
                    let row = read_row(&ds, s![id.period, id.channel, id.k, ..], width)?;
                    put(r, row.view(), &|col| lin * n + col)?;
                } else {
                    let row = read_row(&ds, s![.., id.period, id.channel, id.k], width)?;
                    // [N, J, C, K]: frame n of row (j, c, k) sits at n·J·C·K + linear.
                    put(r, row.view(), &|col| col * jn * cn * kn + lin)?;
                }
            }
        } else {
            self.read_time_domain(&ds, &mut put)?;
        }
        Ok(())
    }

    /// Time-domain rows: each needed (j, c) block is Fourier-transformed once, one block alive at a time.
    fn read_time_domain(&self, ds: &Dataset, put: &mut RowSink<'_>) -> MdfResult<()> {
        let reader = self.reader;
        let l = &reader.header.measurement.as_ref().expect("checked by geometry()").layout;
        let [jn, cn, _] = self.geo.dims;
        let v = reader.header.acquisition.receiver.num_sampling_points.max(0) as usize;
        let frames = l.num_frames();
        let fft = FftPlanner::new().plan_fft_forward(v);
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by_key(|&r| (self.rows[r].period, self.rows[r].channel));
        let mut buf = vec![Complex64::default(); v];
        let mut spec = Array2::<Complex64>::zeros((0, 0));
        let mut block: Option<(usize, usize)> = None;
        let mut col = Array1::<Complex64>::zeros(frames);
        for r in order {
            let id = self.rows[r];
            if block != Some((id.period, id.channel)) {
                // [N, V] raw samples.
                let raw: Array2<f64> = if l.is_fast_frame_axis {
                    let a: Array2<f64> =
                        ds.read_slice_2d(s![id.period, id.channel, .., ..]).map_err(|e| h5err(DATA, e))?;
                    if let Some(i) = a.iter().position(|x| !x.is_finite()) {
                        // [J, C, V, N]: flat index of (j, c, v, n).
                        return Err(MdfError::NonFinite {
                            dataset: DATA.into(),
                            index: (id.period * cn + id.channel) * v * frames + i,
                        });
                    }
                    a.reversed_axes().as_standard_layout().to_owned()
                } else {
                    let a: Array2<f64> =
                        ds.read_slice_2d(s![.., id.period, id.channel, ..]).map_err(|e| h5err(DATA, e))?;
                    if let Some(i) = a.iter().position(|x| !x.is_finite()) {
                        // [N, J, C, V]: flat index of (n, j, c, v).
                        let (n, t) = (i / v.max(1), i % v.max(1));
                        return Err(MdfError::NonFinite {
                            dataset: DATA.into(),
                            index: ((n * jn + id.period) * cn + id.channel) * v + t,
                        });
                    }
                    a
                };
                spec = Array2::zeros((raw.shape()[0], v / 2 + 1));
                for (fr, mut out) in raw.axis_iter(Axis(0)).zip(spec.axis_iter_mut(Axis(0))) {
                    for (b, x) in buf.iter_mut().zip(fr) {
                        *b = Complex64::new(*x, 0.0);
                    }
                    fft.process(&mut buf);
                    out.assign(&ArrayView1::from(&buf[..v / 2 + 1]));
                }
                block = Some((id.period, id.channel));
            }
            col.assign(&spec.column(id.k));
            // Raw samples were checked above; a non-finite spectrum value cannot arise from finite samples of
            // sane magnitude, so the index names the block's first sample.
            let base = (id.period * cn + id.channel) * v * frames;
            put(r, col.view(), &|_| base)?;
        }
        Ok(())
    }
}

/// Receives output row r's stored values (complex f64) and maps a stored column to its flat index in the
/// dataset (for error messages).
type RowSink<'a> = dyn FnMut(usize, ArrayView1<Complex64>, &dyn Fn(usize) -> usize) -> MdfResult<()> + 'a;

/// Byte views of the direct path's staging, without `unsafe`: arrays of bytes flatten to bytes.
trait AsFlatBytes {
    fn as_flat_bytes_mut(&mut self) -> &mut [u8];
}

impl<const N: usize> AsFlatBytes for [[u8; N]] {
    fn as_flat_bytes_mut(&mut self) -> &mut [u8] {
        self.as_flattened_mut()
    }
}

fn read_row<S>(ds: &Dataset, sel: S, width: Option<usize>) -> MdfResult<Array1<Complex64>>
where
    S: TryInto<hdf5::Selection>,
    hdf5::Error: From<S::Error>,
{
    match width {
        Some(4) => {
            let a: Array1<Complex32> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
            Ok(a.mapv(|z| Complex64::new(z.re as f64, z.im as f64)))
        }
        Some(_) => ds.read_slice_1d::<Complex64, _>(sel).map_err(|e| h5err(DATA, e)),
        None => {
            let a: Array1<f64> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
            Ok(a.mapv(|x| Complex64::new(x, 0.0)))
        }
    }
}
