//! One way in to system-matrix reconstruction, for every caller (the CLI's `reconstruct`, `demo`, `bench`,
//! the calibration crate): the files are checked against each other, the memory the plan needs is estimated
//! and refused before anything large is read, the stages are timed, and built states are cached.
//!
//! ```no_run
//! # fn main() -> Result<(), magpie_reconstruct::RecoError> {
//! use magpie_reconstruct::facade;
//! use magpie_reconstruct::sysmat::params::RecoParams;
//! let params = RecoParams::preset("default").expect("a known preset");
//! let r = facade::reconstruct_files("meas.mdf".as_ref(), "sm.mdf".as_ref(), &params)?;
//! println!("{} frames, {:.2} ng in frame 0, solve {:.3} s", r.iron_ng.nrows(), r.iron_ng.row(0).sum(), r.timings.solve_s);
//! # Ok(()) }
//! ```
//!
//! # Stages
//! **plan** (metadata only: rows, grid, delta sample; the memory estimate), **load** (the planned rows read
//! straight into complex f32), **build** (background, SNR, transfer function and weights applied in place; the
//! solver's per-matrix state, e.g. the blocked Kaczmarz triangles), **solve** (frames streamed in batches).
//!
//! # Cache
//! A [`Session`] keeps the built states it made, keyed by the system-matrix file's UUID and every parameter
//! that changes the built matrix ([`crate::sysmat::Plan::build_key`]), and reuses them for later frames, files
//! and solvers of the same key; with a cache folder ([`SessionOptions::cache_dir`]) it also stores them on
//! disk for later runs. The free functions use one process-wide session.
//!
//! # Memory
//! Before reading, the plan's memory is estimated ([`MemoryEstimate`]: rows × voxels × 8 B for the matrix,
//! its background frames, the reader's staging, frames in flight × (rows + voxels) × 8 B, the solver's state
//! and a fixed allowance) and compared with the memory available: [`SessionOptions::memory_limit_bytes`],
//! else the environment variable `MAGPIE_MEMORY_LIMIT_BYTES` (for tests and shared machines), else
//! 90 % of `MemAvailable` of `/proc/meminfo`. A plan that does not fit fails with [`RecoError::Memory`], which names
//! the figures and the `max_rows` that would fit.

mod consistency;
mod disk;
mod memory;

pub use memory::{available_memory, peak_rss_bytes, MemoryError, MemoryEstimate, MEMORY_LIMIT_ENV};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use magpie_core::mdf::{Acquisition, MdfFile, RowId, SystemMatrixRows};
use magpie_core::tf::{OutOfBand, TransferFunction};
use magpie_core::Grid;
use ndarray::Array2;
use num_complex::Complex32;

use crate::engine::Parallelism;
use crate::sysmat::frames::MdfFrames;
use crate::sysmat::params::RecoParams;
use crate::sysmat::{MeasurementInput, Plan, Reconstructor, RunOptions};
use crate::RecoError;

/// Relative difference of drive-field amplitudes or gradients between system matrix and measurement above
/// which they are refused (unless [`SessionOptions::allow_mismatch`]): the system function scales with both.
pub const MISMATCH_TOLERANCE: f64 = 0.01;

/// Options of a [`Session`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Memory a plan may use [bytes] (None: `MAGPIE_MEMORY_LIMIT_BYTES`, else 90 % of `MemAvailable`).
    pub memory_limit_bytes: Option<u64>,
    /// Folder of the on-disk cache of built states (None: memory only).
    pub cache_dir: Option<PathBuf>,
    /// Built states kept in memory (least recently used dropped first; 0: none kept).
    pub cache_entries: usize,
    /// Warn instead of refusing when drive field or gradient of the two files differ.
    pub allow_mismatch: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { memory_limit_bytes: None, cache_dir: None, cache_entries: 4, allow_mismatch: false }
    }
}

impl SessionOptions {
    /// Sets [`Self::memory_limit_bytes`].
    pub fn with_memory_limit_bytes(mut self, limit: Option<u64>) -> Self {
        self.memory_limit_bytes = limit;
        self
    }

    /// Sets [`Self::cache_dir`].
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Sets [`Self::cache_entries`].
    pub fn with_cache_entries(mut self, n: usize) -> Self {
        self.cache_entries = n;
        self
    }

    /// Sets [`Self::allow_mismatch`].
    pub fn with_allow_mismatch(mut self, allow: bool) -> Self {
        self.allow_mismatch = allow;
        self
    }
}

/// Where a built state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheUse {
    /// Read and built now.
    Built,
    /// Reused from the session's memory.
    Memory,
    /// Read from the on-disk cache.
    Disk,
}

/// Wall times of the stages [s].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Plan: metadata, row selection, memory estimate (and opening the system matrix's header).
    pub plan_s: f64,
    /// Load: the system-matrix rows (and the measurement files).
    pub load_s: f64,
    /// Of `load_s`, reading the measurement (and empty-scanner) files.
    pub measurement_s: f64,
    /// Build: pre-processing in place and the solver's per-matrix state.
    pub build_s: f64,
    /// Solve: all frames, frame preparation included.
    pub solve_s: f64,
    /// Of `solve_s`, reading and preparing the frames.
    pub frames_s: f64,
}

/// A built state ready for measurements: what [`Session::prepare`] returns.
#[derive(Debug, Clone)]
pub struct Prepared {
    reco: Arc<Reconstructor>,
    sm_acquisition: Acquisition,
    /// Plan, load and build times of this preparation [s].
    pub timings: Timings,
    /// Where the state came from.
    pub cache: CacheUse,
    /// The memory estimate the plan was checked with.
    pub memory: MemoryEstimate,
    /// Bytes of system-matrix rows read (rows × (voxels + background frames) × 8 B; 0 when cached).
    pub loaded_bytes: u64,
}

impl Prepared {
    /// The reconstruction grid.
    pub fn grid(&self) -> Grid {
        self.reco.plan().grid
    }

    /// The built state.
    pub fn reconstructor(&self) -> &Reconstructor {
        &self.reco
    }

    /// Rows selected (after every criterion, `max_rows` included).
    pub fn rows_selected(&self) -> usize {
        self.reco.plan().rows.len()
    }

    /// Voxels.
    pub fn voxels(&self) -> usize {
        self.reco.system().cols()
    }
}

/// One reconstruction request: the parameters and what else the measurement needs.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    params: &'a RecoParams,
    empty: Option<&'a MdfFile>,
    empty_path: Option<&'a Path>,
    residuals: bool,
    progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    transfer_function: Option<&'a TransferFunction>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request(solver {}, residuals {})", self.params.solver.name(), self.residuals)
    }
}

impl<'a> Request<'a> {
    /// A request with the parameters `params`.
    pub fn new(params: &'a RecoParams) -> Self {
        Request { params, empty: None, empty_path: None, residuals: false, progress: None, transfer_function: None }
    }

    /// A measured receive transfer function (e.g. read from a Touchstone or MPIFiles HDF5 file) to divide the
    /// measurement by, interpolated onto the measurement's frequency grid; the system matrix is used as it is
    /// (a simulated, chain-free one, or one already corrected). Every selected row's frequency must lie in its
    /// measured band ([`RecoError::TransferFunction`] otherwise); unselected bins are never corrected. Refused
    /// together with the parameters' `transfer_function = true` (the files' own functions) and for a
    /// measurement flagged `isTransferFunctionCorrected`.
    pub fn with_transfer_function(mut self, tf: &'a TransferFunction) -> Self {
        self.transfer_function = Some(tf);
        self
    }

    /// The empty-scanner measurement for `background = "external"`, held in memory.
    pub fn with_empty_measurement(mut self, empty: &'a MdfFile) -> Self {
        self.empty = Some(empty);
        self
    }

    /// The empty-scanner measurement for `background = "external"`, as a file
    /// ([`Session::reconstruct_files`]).
    pub fn with_empty_file(mut self, path: &'a Path) -> Self {
        self.empty_path = Some(path);
        self
    }

    /// Compute the residual of the first frame after every iteration (extra products).
    pub fn with_residuals(mut self, on: bool) -> Self {
        self.residuals = on;
        self
    }

    /// Called with (output frames done, output frames in all) when the solve starts (0 done) and after each
    /// batch.
    pub fn with_progress(mut self, progress: &'a (dyn Fn(usize, usize) + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }
}

/// A finished reconstruction with its figures.
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// Iron per voxel [ng], [Q, P] (output frames × voxels, x fastest).
    pub iron_ng: Array2<f64>,
    /// The grid.
    pub grid: Grid,
    /// The foreground frames (acquisition indices) averaged into each output frame.
    pub frames: Vec<Vec<usize>>,
    /// Solver name.
    pub solver: &'static str,
    /// Iterations (sweeps for Kaczmarz) of the first batch.
    pub iterations: usize,
    /// Residual ‖S x − b‖ of the first frame per iteration (empty unless asked for).
    pub residual_history: Vec<f64>,
    /// Effective λ.
    pub lambda_eff: f64,
    /// λ relative to ‖S‖²_F/N.
    pub lambda_relative: f64,
    /// Expected noise norm of the weighted data of the first frame.
    pub noise_norm: f64,
    /// Rows selected and used.
    pub rows_selected: usize,
    /// Rows that passed every criterion before `max_rows`.
    pub rows_passing: usize,
    /// Voxels.
    pub voxels: usize,
    /// Iron in the delta sample [ng].
    pub delta_iron_ng: f64,
    /// Stage times [s].
    pub timings: Timings,
    /// Where the built state came from.
    pub cache: CacheUse,
    /// The memory estimate the plan was checked with.
    pub memory: MemoryEstimate,
    /// System-matrix bytes read (0 when cached).
    pub loaded_bytes: u64,
    /// The parameters used.
    pub params: RecoParams,
}

impl Reconstruction {
    /// Output frames reconstructed per second of solve time.
    pub fn frames_per_s(&self) -> f64 {
        self.iron_ng.nrows() as f64 / self.timings.solve_s.max(1e-12)
    }

    /// Load speed of the system-matrix rows [GB/s] (None when cached or not timed).
    pub fn load_gb_per_s(&self) -> Option<f64> {
        let rows_s = self.timings.load_s - self.timings.measurement_s;
        (self.loaded_bytes > 0 && rows_s > 0.0).then(|| self.loaded_bytes as f64 / 1e9 / rows_s)
    }
}

struct Entry {
    key: String,
    state: Arc<Reconstructor>,
    last_use: u64,
}

/// Built states and options shared by the reconstructions of one process (or one caller).
pub struct Session {
    options: SessionOptions,
    cache: Mutex<(u64, Vec<Entry>)>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({:?})", self.options)
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new(SessionOptions::default())
    }
}

/// The process-wide session of the free functions.
pub fn session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(Session::default)
}

/// Reconstructs a measurement file with a system-matrix file in the process-wide [`session`].
///
/// # Errors
/// See [`Session::reconstruct_files`].
#[cfg(feature = "hdf5")]
pub fn reconstruct_files(
    measurement: &Path,
    system_matrix: &Path,
    params: &RecoParams,
) -> Result<Reconstruction, RecoError> {
    session().reconstruct_files(measurement, system_matrix, &Request::new(params))
}

/// Reconstructs a measurement held in memory with a system matrix held in memory, in the process-wide
/// [`session`].
///
/// # Errors
/// See [`Session::reconstruct`].
pub fn reconstruct(
    measurement: &MdfFile,
    system_matrix: &MdfFile,
    params: &RecoParams,
) -> Result<Reconstruction, RecoError> {
    session().reconstruct(measurement, system_matrix, &Request::new(params))
}

/// The rows of a system matrix held in memory, as complex f32 (the in-memory counterpart of the row reader).
fn rows_in_memory(sm: &MdfFile, rows: &[RowId]) -> Result<SystemMatrixRows<Complex32>, RecoError> {
    let all = magpie_core::mdf::system_matrix(sm)?;
    let index: std::collections::HashMap<RowId, usize> = all.rows.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    let (o, e) = (all.foreground.ncols(), all.background.ncols());
    let mut fg = Array2::<Complex32>::zeros((rows.len(), o));
    let mut bg = Array2::<Complex32>::zeros((rows.len(), e));
    let c32 = |z: &num_complex::Complex64| Complex32::new(z.re as f32, z.im as f32);
    for (i, r) in rows.iter().enumerate() {
        let src = *index.get(r).ok_or_else(|| RecoError::Input {
            what: "system matrix".into(),
            message: format!("planned row {r:?} is not in the file"),
        })?;
        fg.row_mut(i).iter_mut().zip(all.foreground.row(src)).for_each(|(d, z)| *d = c32(z));
        bg.row_mut(i).iter_mut().zip(all.background.row(src)).for_each(|(d, z)| *d = c32(z));
    }
    Ok(SystemMatrixRows { rows: rows.to_vec(), foreground: fg, background: bg })
}

/// How the rows are to be read.
enum Source<'a> {
    Memory(&'a MdfFile),
    #[cfg(feature = "hdf5")]
    File(&'a magpie_core::mdf::MdfReader),
}

/// What, besides the UUID in the build key, tells two system matrices apart in the cache, so that a stale state
/// is never reused: a file by its size and modification time (a file rewritten in place, or another writer's
/// placeholder UUID), data in memory by its shape and a hash of 4096 values sampled evenly over it (data
/// changed in place).
fn source_fingerprint(source: &Source) -> String {
    use std::hash::{Hash, Hasher};
    match source {
        Source::Memory(sm) => {
            fn sample<T: std::fmt::Debug>(a: &ndarray::ArrayD<T>, h: &mut impl Hasher) {
                let n = a.len();
                let step = (n / 4096).max(1);
                for v in a.iter().step_by(step) {
                    format!("{v:?}").hash(h);
                }
            }
            use magpie_core::mdf::NumArray as A;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let Some(m) = &sm.measurement else { return "memory:no-data".into() };
            let data = &m.data;
            data.shape().hash(&mut h);
            match data {
                A::I8(a) => sample(a, &mut h),
                A::I16(a) => sample(a, &mut h),
                A::I32(a) => sample(a, &mut h),
                A::I64(a) => sample(a, &mut h),
                A::F32(a) => sample(a, &mut h),
                A::F64(a) => sample(a, &mut h),
                A::C32(a) => sample(a, &mut h),
                A::C64(a) => sample(a, &mut h),
            }
            format!("memory:{:016x}", h.finish())
        }
        #[cfg(feature = "hdf5")]
        Source::File(reader) => match std::fs::metadata(reader.path()) {
            Ok(m) => {
                let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                format!("file:{}:{}", m.len(), mtime.map_or(0, |d| d.as_nanos()))
            }
            Err(_) => "file:unknown".into(),
        },
    }
}

impl Session {
    /// A session with `options`.
    pub fn new(options: SessionOptions) -> Self {
        Session { options, cache: Mutex::new((0, Vec::new())) }
    }

    /// The options.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// Drops every built state held in memory.
    pub fn clear_cache(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).1.clear();
    }

    /// Built states held in memory.
    pub fn cached_states(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).1.len()
    }

    fn lookup(&self, key: &str) -> Option<Arc<Reconstructor>> {
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        c.0 += 1;
        let tick = c.0;
        let e = c.1.iter_mut().find(|e| e.key == key)?;
        e.last_use = tick;
        Some(e.state.clone())
    }

    fn insert(&self, key: String, state: Arc<Reconstructor>) {
        if self.options.cache_entries == 0 {
            return;
        }
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        c.0 += 1;
        let tick = c.0;
        c.1.retain(|e| e.key != key);
        while c.1.len() >= self.options.cache_entries {
            let oldest = c.1.iter().enumerate().min_by_key(|(_, e)| e.last_use).map(|(i, _)| i).unwrap_or(0);
            c.1.remove(oldest);
        }
        c.1.push(Entry { key, state, last_use: tick });
    }

    /// Prepares (or finds in the cache) the built state of a system matrix held in memory.
    ///
    /// # Errors
    /// Planning errors, [`RecoError::Memory`] when the plan does not fit, build errors.
    pub fn prepare(&self, system_matrix: &MdfFile, params: &RecoParams) -> Result<Prepared, RecoError> {
        self.prepare_from(Source::Memory(system_matrix), system_matrix, params)
    }

    /// Prepares (or finds in the cache) the built state of a system-matrix file, reading only the planned rows.
    ///
    /// # Errors
    /// Unreadable file, planning errors, [`RecoError::Memory`] when the plan does not fit, build errors.
    #[cfg(feature = "hdf5")]
    pub fn prepare_file(&self, system_matrix: &Path, params: &RecoParams) -> Result<Prepared, RecoError> {
        let t0 = Instant::now();
        let reader = open_reader(system_matrix)?;
        let open_s = t0.elapsed().as_secs_f64();
        let mut p = self.prepare_from(Source::File(&reader), &reader.header, params)?;
        p.timings.plan_s += open_s;
        Ok(p)
    }

    fn prepare_from(&self, source: Source, header: &MdfFile, params: &RecoParams) -> Result<Prepared, RecoError> {
        let t_plan = Instant::now();
        let plan = Plan::new(params, header)?;
        let key = format!("{}|{}", plan.build_key(), source_fingerprint(&source));
        let mut timings = Timings::default();
        let frames_in_flight = params.engine.batch_frames.max(1);
        let mut estimate = MemoryEstimate::for_plan(&plan, frames_in_flight);
        if let Some(state) = self.lookup(&key) {
            timings.plan_s = t_plan.elapsed().as_secs_f64();
            tracing::info!("system matrix: built state reused from this session's cache");
            let t_build = Instant::now();
            state.prepare_solver(params)?;
            timings.build_s = t_build.elapsed().as_secs_f64();
            return Ok(Prepared {
                reco: state,
                sm_acquisition: header.acquisition.clone(),
                timings,
                cache: CacheUse::Memory,
                memory: estimate,
                loaded_bytes: 0,
            });
        }
        let parallelism = Parallelism::threads(params.engine.threads).map_err(|e| RecoError::Input {
            what: "threads".into(),
            message: format!("cannot start {} threads: {e}", params.engine.threads),
        })?;
        if parallelism.thread_count() > 1 || params.engine.threads != 0 {
            tracing::info!("engine: {} thread(s)", parallelism.thread_count());
        }
        let disk = self.options.cache_dir.as_deref().map(|d| disk::path_for(d, &key));
        let from_disk = disk.as_deref().filter(|p| p.exists());
        // What the read itself stages (the reader's own estimate), or the transient full copy of an in-memory
        // matrix.
        estimate.staging_bytes = match (&source, from_disk) {
            (_, Some(_)) => 0,
            (Source::Memory(sm), None) => memory::in_memory_transient_bytes(sm),
            #[cfg(feature = "hdf5")]
            (Source::File(reader), None) => {
                let est = parallelism.install(|| {
                    reader
                        .plan_row_read(&plan.rows, &magpie_core::mdf::RowReadOptions::default())
                        .map(|p| *p.estimate())
                })?;
                est.staging_bytes + est.transient_bytes
            }
        };
        estimate.finish();
        let limit = self.checked_memory(&estimate, &plan)?;
        timings.plan_s = t_plan.elapsed().as_secs_f64();
        let (state, cache, loaded_bytes) = if let Some(path) = from_disk {
            let t_load = Instant::now();
            match disk::load(path, &key, plan.clone(), parallelism.clone()) {
                Ok(state) => {
                    timings.load_s = t_load.elapsed().as_secs_f64();
                    tracing::info!(
                        "system matrix: built state read from the cache {} in {:.2} s",
                        path.display(),
                        timings.load_s
                    );
                    (state, CacheUse::Disk, 0)
                }
                Err(e) => {
                    tracing::warn!("cache file {} not usable ({e}); reading the system matrix", path.display());
                    self.load_and_build(&source, plan, header, parallelism, limit, &mut timings)?
                }
            }
        } else {
            self.load_and_build(&source, plan, header, parallelism, limit, &mut timings)?
        };
        let t_solver = Instant::now();
        state.prepare_solver(params)?;
        timings.build_s += t_solver.elapsed().as_secs_f64();
        if let (Some(path), CacheUse::Built) = (&disk, cache) {
            match disk::store(path, &key, &state) {
                Ok(bytes) => {
                    tracing::info!("built state stored in the cache {} ({:.2} GB)", path.display(), bytes as f64 / 1e9)
                }
                Err(e) => tracing::warn!("could not store the built state in {}: {e}", path.display()),
            }
        }
        let state = Arc::new(state);
        self.insert(key, state.clone());
        Ok(Prepared {
            reco: state,
            sm_acquisition: header.acquisition.clone(),
            timings,
            cache,
            memory: estimate,
            loaded_bytes,
        })
    }

    /// The memory limit, after refusing a plan that does not fit (the session's cached states are dropped
    /// first if that makes room).
    fn checked_memory(&self, estimate: &MemoryEstimate, plan: &Plan) -> Result<u64, RecoError> {
        let (mut limit, mut origin) = available_memory(self.options.memory_limit_bytes);
        if estimate.total_bytes > limit && self.cached_states() > 0 && origin == memory::LimitOrigin::MemAvailable {
            tracing::info!("dropping the session's cached system matrices to make room");
            self.clear_cache();
            (limit, origin) = available_memory(self.options.memory_limit_bytes);
        }
        if estimate.total_bytes > limit {
            return Err(RecoError::Memory(Box::new(MemoryError::new(estimate, plan, limit, origin))));
        }
        tracing::info!(
            "memory: the plan needs ≈ {:.2} GB of {:.2} GB available ({})",
            estimate.total_bytes as f64 / 1e9,
            limit as f64 / 1e9,
            origin
        );
        Ok(limit)
    }

    fn load_and_build(
        &self,
        source: &Source,
        plan: Plan,
        header: &MdfFile,
        parallelism: Parallelism,
        limit: u64,
        timings: &mut Timings,
    ) -> Result<(Reconstructor, CacheUse, u64), RecoError> {
        let t_load = Instant::now();
        let rows: SystemMatrixRows<Complex32> = match source {
            Source::Memory(sm) => rows_in_memory(sm, &plan.rows)?,
            #[cfg(feature = "hdf5")]
            Source::File(reader) => parallelism.install(|| {
                let opts = magpie_core::mdf::RowReadOptions::default().with_memory_limit_bytes(Some(limit));
                reader.plan_row_read(&plan.rows, &opts).and_then(|p| p.read())
            })?,
        };
        let _ = limit;
        timings.load_s = t_load.elapsed().as_secs_f64();
        let loaded = (rows.foreground.len() + rows.background.len()) as u64 * 8;
        tracing::info!(
            "load: {} rows × {} values in {:.2} s ({:.2} GB/s)",
            rows.rows.len(),
            rows.foreground.ncols() + rows.background.ncols(),
            timings.load_s,
            loaded as f64 / 1e9 / timings.load_s.max(1e-9)
        );
        let t_build = Instant::now();
        let tf = header.acquisition.receiver.transfer_function.as_ref();
        let state = plan.build(rows, tf, parallelism)?;
        timings.build_s = t_build.elapsed().as_secs_f64();
        Ok((state, CacheUse::Built, loaded))
    }

    /// Reconstructs a measurement held in memory with a prepared state.
    ///
    /// # Errors
    /// The files do not belong together (frequency grid, drive field, gradient), frames or background frames
    /// missing, solver errors.
    pub fn run(&self, prepared: &Prepared, measurement: &MdfFile, req: &Request) -> Result<Reconstruction, RecoError> {
        consistency::check(&prepared.sm_acquisition, &measurement.acquisition, self.options.allow_mismatch)?;
        if let Some(e) = req.empty {
            let (a, b) = (&measurement.acquisition, &e.acquisition);
            if a.num_periods_per_frame != b.num_periods_per_frame {
                return Err(RecoError::Input {
                    what: "empty-scanner measurement".into(),
                    message: format!(
                        "{} periods per frame, the measurement {}: its frames are not the measurement's",
                        b.num_periods_per_frame, a.num_periods_per_frame
                    ),
                });
            }
            consistency::check_pair(consistency::EMPTY, a, b, self.options.allow_mismatch)?;
        }
        let frames = MdfFrames::new(measurement)?;
        let empty_frames = match req.empty {
            Some(e) => Some(MdfFrames::new(e)?),
            None => None,
        };
        let external = measurement_transfer_function(prepared, measurement, req)?;
        let input = MeasurementInput {
            frames: &frames,
            transfer_function: match &external {
                Some(tf) => Some(tf),
                None => measurement.acquisition.receiver.transfer_function.as_ref(),
            },
            correct_transfer_function: external.is_some() || req.params.preprocessing.transfer_function,
            external_background: empty_frames.as_ref().map(|f| f as &dyn crate::sysmat::frames::FrameSource),
            averages: measurement.acquisition.num_averages as f64,
        };
        let opts = RunOptions { residuals: req.residuals, progress: req.progress };
        let t0 = Instant::now();
        let r = prepared.reco.run(input, req.params, &opts)?;
        let mut timings = prepared.timings;
        timings.solve_s = t0.elapsed().as_secs_f64();
        timings.frames_s = r.prepare_s;
        let plan = prepared.reco.plan();
        Ok(Reconstruction {
            grid: plan.grid,
            frames: r.frames,
            solver: req.params.solver.name(),
            iterations: r.info.iterations,
            residual_history: r.info.residual_history,
            lambda_eff: r.lambda_eff,
            lambda_relative: r.lambda_relative,
            noise_norm: r.noise_norm,
            rows_selected: r.rows_used,
            rows_passing: plan.rows_passing,
            voxels: prepared.voxels(),
            delta_iron_ng: plan.delta_iron_ng,
            timings,
            cache: prepared.cache,
            memory: prepared.memory.clone(),
            loaded_bytes: prepared.loaded_bytes,
            params: req.params.clone(),
            iron_ng: r.iron_ng,
        })
        .inspect(log_timings)
    }

    /// Reconstructs a measurement held in memory with a system matrix held in memory (e.g. simulated).
    ///
    /// # Errors
    /// As [`Self::prepare`] and [`Self::run`].
    pub fn reconstruct(
        &self,
        measurement: &MdfFile,
        system_matrix: &MdfFile,
        req: &Request,
    ) -> Result<Reconstruction, RecoError> {
        consistency::check(&system_matrix.acquisition, &measurement.acquisition, self.options.allow_mismatch)?;
        let prepared = self.prepare(system_matrix, req.params)?;
        self.run(&prepared, measurement, req)
    }

    /// Reconstructs a measurement file with a system-matrix file, reading only the planned rows of the latter.
    ///
    /// # Errors
    /// Unreadable files, and as [`Self::prepare_file`] and [`Self::run`].
    #[cfg(feature = "hdf5")]
    pub fn reconstruct_files(
        &self,
        measurement: &Path,
        system_matrix: &Path,
        req: &Request,
    ) -> Result<Reconstruction, RecoError> {
        let read = |p: &Path| {
            magpie_core::mdf::read_mdf(p).map_err(|e| RecoError::File { path: p.to_path_buf(), source: Box::new(e) })
        };
        let t0 = Instant::now();
        let meas = read(measurement)?;
        let empty = req.empty_path.map(read).transpose()?;
        let meas_s = t0.elapsed().as_secs_f64();
        tracing::debug!("measurement read in {meas_s:.2} s");
        let t1 = Instant::now();
        let reader = open_reader(system_matrix)?;
        let open_s = t1.elapsed().as_secs_f64();
        consistency::check(&reader.header.acquisition, &meas.acquisition, self.options.allow_mismatch)?;
        let mut prepared = self.prepare_from(Source::File(&reader), &reader.header, req.params)?;
        prepared.timings.plan_s += open_s;
        prepared.timings.load_s += meas_s;
        prepared.timings.measurement_s += meas_s;
        let req = match &empty {
            Some(e) => req.with_empty_measurement(e),
            None => *req,
        };
        self.run(&prepared, &meas, &req)
    }
}

/// The external transfer function of `req` on the measurement's full frequency grid (checked in band at every
/// selected row), after the checks that prevent correcting twice.
fn measurement_transfer_function(
    prepared: &Prepared,
    measurement: &MdfFile,
    req: &Request,
) -> Result<Option<Array2<num_complex::Complex64>>, RecoError> {
    let corrected = measurement.measurement.as_ref().is_some_and(|m| m.layout.is_transfer_function_corrected);
    let own = req.params.preprocessing.transfer_function;
    if corrected && (own || req.transfer_function.is_some()) {
        return Err(RecoError::Input {
            what: "/measurement/isTransferFunctionCorrected".into(),
            message: "the measurement is already transfer-function corrected; correcting it again is refused \
                      (drop --tf/--tf-file)"
                .into(),
        });
    }
    let Some(tf) = req.transfer_function else { return Ok(None) };
    if own {
        return Err(RecoError::Input {
            what: "transfer function".into(),
            message: "both the files' own transfer functions (transfer_function = true, --tf) and an external one \
                      (--tf-file) were asked for; choose one"
                .into(),
        });
    }
    let rx = &measurement.acquisition.receiver;
    let plan = prepared.reco.plan();
    let needed: std::collections::HashSet<(usize, usize)> =
        plan.rows.iter().zip(&plan.bins).map(|(r, &b)| (r.channel, b)).collect();
    let v = rx.num_sampling_points.max(1) as usize;
    let c = rx.num_channels.max(1) as usize;
    let on_grid = tf.on_receiver_grid(rx.bandwidth_hz, v, c, OutOfBand::Refuse, |cc, k| needed.contains(&(cc, k)))?;
    let (lo, hi) = tf.band_hz();
    tracing::info!(
        "transfer function {}: {} points over {:.3} – {:.3} kHz, interpolated onto the {} selected rows of the \
         measurement (the system matrix is used as it is)",
        tf.source_name(),
        tf.frequency_hz().len(),
        lo / 1e3,
        hi / 1e3,
        plan.rows.len()
    );
    Ok(Some(on_grid))
}

#[cfg(feature = "hdf5")]
fn open_reader(path: &Path) -> Result<magpie_core::mdf::MdfReader, RecoError> {
    magpie_core::mdf::MdfReader::open(path)
        .map_err(|e| RecoError::File { path: path.to_path_buf(), source: Box::new(e) })
}

fn log_timings(r: &Reconstruction) {
    let t = &r.timings;
    tracing::info!(
        "timings: plan {:.3} s, load {:.3} s{}, build {:.3} s, solve {:.3} s ({} frame(s), {:.1} frames/s{})",
        t.plan_s,
        t.load_s,
        match (r.cache, r.load_gb_per_s()) {
            (CacheUse::Memory, _) => " (cached)".to_string(),
            (CacheUse::Disk, _) => " (from the cache folder)".to_string(),
            (_, Some(g)) => format!(" ({g:.2} GB/s)"),
            _ => String::new(),
        },
        t.build_s,
        t.solve_s,
        r.iron_ng.nrows(),
        r.frames_per_s(),
        if t.frames_s > 0.01 * t.solve_s {
            format!(", of which {:.3} s preparing frames", t.frames_s)
        } else {
            String::new()
        }
    );
}

#[cfg(test)]
mod tests;
