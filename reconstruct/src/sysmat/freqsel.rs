//! Row (frequency × channel) selection from file metadata alone: SNR threshold, frequency band, receive
//! channels, mixing order and stop bands.

use magpie_core::mdf::{MdfFile, RowId};

use super::params::FrequencyParams;

/// For every rFFT bin 0..k_max, the lowest mixing order |m_x|+|m_y|+|m_z| with
/// k = Σ m_d·L/divider_d (L = cycle length in base ticks), searched up to `max_order` (bins without a
/// representation up to that order get `u32::MAX`). Negative k fold onto |k| (real signals).
pub fn mixing_orders(dividers: &[u64], k_max: usize, max_order: u32) -> Vec<u32> {
    let l = dividers.iter().fold(1u64, |a, &d| a / gcd(a, d) * d);
    let steps: Vec<i64> = dividers.iter().map(|d| (l / d) as i64).collect();
    let mut best = vec![u32::MAX; k_max];
    let n = max_order as i64;
    let mut m = vec![-n; steps.len()];
    loop {
        let order: i64 = m.iter().map(|v| v.abs()).sum();
        if order <= n {
            let k: i64 = m.iter().zip(&steps).map(|(a, b)| a * b).sum::<i64>().abs();
            if (k as usize) < k_max && (order as u32) < best[k as usize] {
                best[k as usize] = order as u32;
            }
        }
        // Odometer over [−n, n]^D.
        let mut d = 0;
        loop {
            if d == m.len() {
                return best;
            }
            m[d] += 1;
            if m[d] <= n {
                break;
            }
            m[d] = -n;
            d += 1;
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The rows of a system-matrix file that pass every metadata criterion (SNR only when the file has
/// `/calibration/snr`). Returns the rows and whether an SNR estimate from the data is still needed.
pub fn select_rows(sm: &MdfFile, p: &FrequencyParams) -> (Vec<RowId>, bool) {
    let rx = &sm.acquisition.receiver;
    let v = rx.num_sampling_points.max(0) as usize;
    let layout = sm.measurement.as_ref().map(|m| &m.layout);
    let bins: Vec<usize> = layout
        .and_then(|l| l.frequency_selection.clone().filter(|_| l.is_frequency_selection))
        .unwrap_or_else(|| (0..v / 2 + 1).collect());
    let df = &sm.acquisition.drivefield;
    let dividers: Vec<u64> = df
        .divider
        .outer_iter()
        .zip(df.strength_t.slice(ndarray::s![0, .., ..]).outer_iter())
        .filter(|(_, a)| a.iter().any(|v| *v != 0.0))
        .map(|(d, _)| d[0].max(1) as u64)
        .collect();
    let orders = p.max_mixing_order.map(|n| mixing_orders(&dividers, v / 2 + 1, n));
    let snr = sm.calibration.as_ref().and_then(|c| c.snr.as_ref());
    let j = sm.num_periods();
    let c = rx.num_channels.max(0) as usize;
    let mut rows = Vec::new();
    for jj in 0..j {
        for cc in 0..c {
            if let Some(ch) = &p.channels {
                if !ch.contains(&cc) {
                    continue;
                }
            }
            for (k, &bin) in bins.iter().enumerate() {
                let f = rx.frequency_hz(bin);
                if f < p.min_frequency_hz || p.max_frequency_hz.is_some_and(|m| f > m) {
                    continue;
                }
                if p.stop_bands_hz.iter().any(|b| f >= b[0] && f <= b[1]) {
                    continue;
                }
                if let (Some(o), Some(n)) = (&orders, p.max_mixing_order) {
                    if o[bin] > n {
                        continue;
                    }
                }
                if let Some(s) = snr {
                    if s[[jj, cc, k]] < p.snr_threshold {
                        continue;
                    }
                }
                rows.push(RowId { period: jj, channel: cc, k });
            }
        }
    }
    (rows, snr.is_none() && p.snr_threshold > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_orders_of_the_bruker_lissajous() {
        // 2-D: k = 16 m_x + 17 m_y (physics.md §3.4).
        let o = mixing_orders(&[102, 96], 817, 40);
        assert_eq!(o[16], 1);
        assert_eq!(o[17], 1);
        assert_eq!(o[48], 3);
        assert_eq!(o[33], 2);
        assert_eq!(o[49], 3);
        assert_eq!(o[1], 2, "17 − 16");
        // 3-D: k = 528 m_x + 561 m_y + 544 m_z.
        let o3 = mixing_orders(&[102, 96, 99], 26929, 6);
        assert_eq!(o3[528], 1);
        assert_eq!(o3[544], 1);
        assert_eq!(o3[528 + 561], 2);
        assert_eq!(o3[3 * 544], 3);
    }
}
