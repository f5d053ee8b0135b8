//! The on-disk cache of built states: the pre-processed complex-f32 rows with the plan's row list, weights and
//! noise levels, in one little-endian binary file per build key, so that a later run skips the row selection,
//! the SNR estimate and the pre-processing (and, for a time-domain or compressed calibration file, its
//! transform). The file holds the key itself, which is compared on reading: a hash collision cannot give a
//! wrong state.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use magpie_core::mdf::RowId;
use num_complex::Complex32;

use crate::engine::{Parallelism, SystemMatrix};
use crate::sysmat::{Plan, Reconstructor};

const MAGIC: &[u8] = b"MAGPIE-BUILT-SYSTEM-MATRIX v1\n";

/// Values converted per read or write call (8 B each).
const CHUNK: usize = 1 << 18;

/// FNV-1a, 64 bit: a stable file name for a key (not for security; the key is checked on reading).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The cache file of `key` in `dir`.
pub(crate) fn path_for(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("sm-{:016x}.magpie-cache", fnv1a(key)))
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_f64s(r: &mut impl Read, n: usize) -> std::io::Result<Vec<f64>> {
    (0..n).map(|_| read_u64(r).map(f64::from_bits)).collect()
}

/// Reads the state stored under the cache key `key` (the plan is the fresh plan of the same parameters, whose rows the file's replace).
pub(crate) fn load(path: &Path, key: &str, mut plan: Plan, parallelism: Parallelism) -> std::io::Result<Reconstructor> {
    let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(bad("not a magpie cache file of this version"));
    }
    let key_len = read_u64(&mut r)? as usize;
    if key_len > 1 << 20 {
        return Err(bad("corrupt key length"));
    }
    let mut stored_key = vec![0u8; key_len];
    r.read_exact(&mut stored_key)?;
    if stored_key != key.as_bytes() {
        return Err(bad("the file holds another system matrix or other parameters"));
    }
    let rows = read_u64(&mut r)? as usize;
    let cols = read_u64(&mut r)? as usize;
    let rows_passing = read_u64(&mut r)? as usize;
    let has_snr = read_u64(&mut r)? == 1;
    if cols != plan.voxels || rows == 0 || rows > plan.rows_passing.max(rows_passing).max(plan.rows.len()) {
        return Err(bad(format!("{rows} × {cols} does not fit the plan ({} voxels)", plan.voxels)));
    }
    let mut ids = Vec::with_capacity(rows);
    for _ in 0..rows {
        let (j, c, k) = (read_u64(&mut r)?, read_u64(&mut r)?, read_u64(&mut r)?);
        ids.push(RowId { period: j as usize, channel: c as usize, k: k as usize });
    }
    let bins: Vec<usize> = (0..rows).map(|_| read_u64(&mut r).map(|b| b as usize)).collect::<Result<_, _>>()?;
    let weights = read_f64s(&mut r, rows)?;
    let sigma = read_f64s(&mut r, rows)?;
    let snr = if has_snr { Some(read_f64s(&mut r, rows)?) } else { None };
    let mut data = vec![Complex32::default(); rows * cols];
    let mut buf = vec![0u8; CHUNK * 8];
    for chunk in data.chunks_mut(CHUNK) {
        let bytes = &mut buf[..chunk.len() * 8];
        r.read_exact(bytes)?;
        for (z, b) in chunk.iter_mut().zip(bytes.chunks_exact(8)) {
            let re = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let im = f32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            *z = Complex32::new(re, im);
        }
    }
    if !data.iter().all(|z| z.re.is_finite() && z.im.is_finite()) {
        return Err(bad("non-finite values"));
    }
    plan.rows = ids;
    plan.bins = bins;
    plan.snr = snr;
    plan.rows_passing = rows_passing;
    let system = SystemMatrix::from_row_major(data, rows, cols, parallelism).map_err(|e| bad(e.to_string()))?;
    // The state's own key is the plan's (parameters and UUID); `key` adds the source's fingerprint.
    let state_key = plan.build_key();
    Ok(Reconstructor::from_parts(plan, Arc::new(system), weights, sigma, state_key))
}

/// Writes the state (through a temporary file and a rename); returns the bytes written.
pub(crate) fn store(path: &Path, key: &str, state: &Reconstructor) -> std::io::Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _registered = magpie_core::tempfiles::TempFile::register(&tmp);
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let plan = state.plan();
        let sys = state.system();
        w.write_all(MAGIC)?;
        w.write_all(&(key.len() as u64).to_le_bytes())?;
        w.write_all(key.as_bytes())?;
        for v in [sys.rows() as u64, sys.cols() as u64, plan.rows_passing as u64, u64::from(plan.snr.is_some())] {
            w.write_all(&v.to_le_bytes())?;
        }
        for id in &plan.rows {
            for v in [id.period, id.channel, id.k] {
                w.write_all(&(v as u64).to_le_bytes())?;
            }
        }
        for b in &plan.bins {
            w.write_all(&(*b as u64).to_le_bytes())?;
        }
        let floats = state.weights().iter().chain(state.sm_sigma()).chain(plan.snr.iter().flatten());
        for v in floats {
            w.write_all(&v.to_bits().to_le_bytes())?;
        }
        let mut buf = Vec::with_capacity(CHUNK * 8);
        for chunk in sys.as_slice().chunks(CHUNK) {
            buf.clear();
            for z in chunk {
                buf.extend_from_slice(&z.re.to_le_bytes());
                buf.extend_from_slice(&z.im.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    Ok(std::fs::metadata(path)?.len())
}
