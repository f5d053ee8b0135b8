//! `magpie tf`: receive transfer functions as files. `convert` turns a network analyser's Touchstone file
//! (`.s1p`: S11, `.s2p`: S21) into the HDF5 form MPIFiles.jl reads (`/frequencies`, `/transferFunction`,
//! `/inductionFactor`); `show` prints a summary. Both print the band, the points and the magnitude and phase
//! at a few frequencies, and plot magnitude [dB] and phase [°] against frequency with `--png`.

use anyhow::Context;
use magpie_core::tf::TransferFunction;
use std::path::{Path, PathBuf};

use super::common;
use crate::plot::{write_charts_png, ChartSpec, Series, SeriesStyle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: TfCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TfCommand {
    /// Convert a Touchstone (.s1p/.s2p) or HDF5 transfer function into the HDF5 form (written atomically).
    Convert {
        /// Input: .s1p, .s2p, or .h5.
        input: PathBuf,
        /// Output HDF5 file.
        #[arg(short, long)]
        out: PathBuf,
        /// Also plot magnitude and phase against frequency into this PNG.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Print a summary of a transfer function file (band, points, magnitude and phase at a few frequencies).
    Show {
        /// Input: .s1p, .s2p, or .h5.
        input: PathBuf,
        /// Plot magnitude and phase against frequency into this PNG.
        #[arg(long)]
        png: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        TfCommand::Convert { input, out, png } => {
            let mut outputs: Vec<(&str, &std::path::Path)> = vec![("-o", &out)];
            outputs.extend(png.as_deref().map(|p| ("--png", p)));
            common::prepare_outputs(&outputs, &[("input", &input)])?;
            let tf = read(&input)?;
            magpie_core::mdf::write_transfer_function(&out, &tf)
                .with_context(|| format!("writing {}", out.display()))?;
            print!("{}", summary(&tf));
            println!("written: {}", out.display());
            if let Some(p) = png {
                plot(&tf, &p)?;
            }
        }
        TfCommand::Show { input, png } => {
            let tf = read(&input)?;
            print!("{}", summary(&tf));
            if let Some(p) = png {
                common::prepare_outputs(&[("--png", &p)], &[("input", &input)])?;
                plot(&tf, &p)?;
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<TransferFunction> {
    TransferFunction::read(path).with_context(|| format!("reading transfer function {}", path.display()))
}

fn db(x: f64) -> f64 {
    20.0 * x.max(1e-300).log10()
}

/// The text summary: source, channels, band, points, and |H| [dB] and phase [°] at five frequencies spread
/// over the band (first, last and three between them, at the nearest measured point).
pub fn summary(tf: &TransferFunction) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let (lo, hi) = tf.band_hz();
    let f = tf.frequency_hz();
    let _ = writeln!(s, "transfer function: {}", tf.source_name());
    let _ = writeln!(s, "channels:          {}", tf.channels());
    let _ = writeln!(s, "band:              {:.6} – {:.6} kHz, {} points", lo / 1e3, hi / 1e3, f.len());
    if let Some(i) = tf.induction_factor() {
        let _ = writeln!(s, "inductionFactor:   {i:?}");
    }
    let n = f.len();
    let mut picks: Vec<usize> = (0..5).map(|i| i * (n - 1) / 4).collect();
    picks.dedup();
    for c in 0..tf.channels() {
        for &i in &picks {
            let h = tf.data()[[c, i]];
            let _ = writeln!(
                s,
                "  ch {c}  {:>12.3} kHz   |H| {:>9.3} dB   phase {:>8.2}°",
                f[i] / 1e3,
                db(h.norm()),
                h.arg().to_degrees()
            );
        }
    }
    s
}

/// Magnitude [dB] over phase [°] (unwrapped), against frequency [kHz] on a log axis when the band starts above 0.
fn plot(tf: &TransferFunction, path: &Path) -> anyhow::Result<()> {
    let f = tf.frequency_hz();
    let log_x = f[0] > 0.0 && f[f.len() - 1] / f[0] > 20.0;
    let mut mag = Vec::new();
    let mut phase = Vec::new();
    for c in 0..tf.channels() {
        let label = if tf.channels() > 1 { format!("channel {c}") } else { String::new() };
        let mut ph: Vec<f64> = f.iter().enumerate().map(|(i, _)| tf.data()[[c, i]].arg()).collect();
        unwrap(&mut ph);
        mag.push(Series {
            label: label.clone(),
            points: f.iter().enumerate().map(|(i, x)| (x / 1e3, db(tf.data()[[c, i]].norm()))).collect(),
            style: SeriesStyle::Line,
        });
        phase.push(Series {
            label,
            points: f.iter().zip(&ph).map(|(x, p)| (x / 1e3, p.to_degrees())).collect(),
            style: SeriesStyle::Line,
        });
    }
    let title = format!("transfer function {}", tf.source_name());
    let specs = [
        ChartSpec {
            title: &title,
            x_label: "frequency [kHz]",
            y_label: "|H| [dB]",
            log_x,
            log_y: false,
            series: mag,
            markers: vec![],
        },
        ChartSpec {
            title: "phase (unwrapped)",
            x_label: "frequency [kHz]",
            y_label: "phase [°]",
            log_x,
            log_y: false,
            series: phase,
            markers: vec![],
        },
    ];
    write_charts_png(path, &specs)?;
    println!("figure: {}", path.display());
    Ok(())
}

fn unwrap(p: &mut [f64]) {
    use std::f64::consts::TAU;
    for i in 1..p.len() {
        let d = p[i] - p[i - 1];
        p[i] -= TAU * (d / TAU).round();
    }
}
