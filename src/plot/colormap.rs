//! Colour maps and number formatting shared by the map and chart figures.
//!
//! Both colour maps are defined here by a handful of stops and interpolated linearly in sRGB. The stops were
//! chosen for this project: the sequential map runs from dark indigo through blue, teal and green to yellow with
//! a luminance that rises steadily (so it prints readably in grey scale and has no false edges), the diverging
//! map runs from blue through near-white at zero to red with matching luminance on both sides.

/// An 8-bit sRGB colour.
pub(crate) type Rgb = [u8; 3];

/// Stops of the sequential map (position in [0, 1], colour).
const SEQUENTIAL_STOPS: [(f64, Rgb); 6] = [
    (0.0, [32, 12, 64]),
    (0.2, [62, 52, 132]),
    (0.4, [44, 108, 146]),
    (0.6, [36, 158, 128]),
    (0.8, [122, 198, 80]),
    (1.0, [246, 230, 42]),
];

/// Stops of the diverging map (position in [0, 1]; 0.5 is the value zero).
const DIVERGING_STOPS: [(f64, Rgb); 5] = [
    (0.0, [36, 68, 160]),
    (0.25, [132, 166, 218]),
    (0.5, [247, 247, 247]),
    (0.75, [226, 140, 118]),
    (1.0, [168, 28, 40]),
];

/// Colour of missing data (NaN or infinite values): a neutral grey that neither map contains.
pub(crate) const MISSING_COLOUR: Rgb = [150, 150, 150];

fn interpolate(stops: &[(f64, Rgb)], t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let last = stops.len() - 1;
    let k = stops.iter().position(|(s, _)| *s >= t).unwrap_or(last).max(1);
    let (t0, c0) = stops[k - 1];
    let (t1, c1) = stops[k];
    let w = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
    std::array::from_fn(|i| (c0[i] as f64 + w * (c1[i] as f64 - c0[i] as f64)).round().clamp(0.0, 255.0) as u8)
}

/// Which colour map a scale uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Non-negative data: the sequential map from `lo` (usually 0) to `hi`.
    Sequential,
    /// Data with negative values: blue–white–red, symmetric about zero.
    Diverging,
}

/// The mapping of one map's values to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColourScale {
    /// Value drawn with the first colour of the map.
    pub lo: f64,
    /// Value drawn with the last colour of the map.
    pub hi: f64,
    pub scheme: Scheme,
}

impl ColourScale {
    /// The scale for a map: sequential over [0, max] when no finite value is negative, otherwise diverging over
    /// [−a, a] with a = max |value| so that zero is white. Non-finite values are ignored; a map without a positive
    /// range (all zero, all missing) gets [0, 1].
    pub fn for_values(values: &[f64]) -> Self {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values.iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        if min > max {
            return ColourScale { lo: 0.0, hi: 1.0, scheme: Scheme::Sequential };
        }
        if min < 0.0 {
            let a = (-min).max(max);
            ColourScale { lo: -a, hi: a, scheme: Scheme::Diverging }
        } else {
            ColourScale { lo: 0.0, hi: if max > 0.0 { max } else { 1.0 }, scheme: Scheme::Sequential }
        }
    }

    /// Position of `v` along the colour bar, clamped to [0, 1].
    pub fn fraction(&self, v: f64) -> f64 {
        // Halving first keeps ranges near ±f64::MAX from overflowing.
        let span = 0.5 * self.hi - 0.5 * self.lo;
        if span > 0.0 && span.is_finite() {
            ((0.5 * v - 0.5 * self.lo) / span).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    /// The colour of a value; missing data (NaN, ±inf) is grey.
    pub fn colour(&self, v: f64) -> Rgb {
        if !v.is_finite() {
            return MISSING_COLOUR;
        }
        self.colour_at(self.fraction(v))
    }

    /// The colour at position `t` ∈ [0, 1] along the colour bar.
    pub fn colour_at(&self, t: f64) -> Rgb {
        match self.scheme {
            Scheme::Sequential => interpolate(&SEQUENTIAL_STOPS, t),
            Scheme::Diverging => interpolate(&DIVERGING_STOPS, t),
        }
    }
}

/// Rounds to 3 significant digits; returns the rounded value and its decimal exponent.
fn round_sig3(v: f64) -> (f64, i32) {
    let e = v.abs().log10().floor() as i32;
    let q = 10f64.powi(e - 2);
    let r = (v / q).round() * q;
    (r, r.abs().log10().floor() as i32)
}

/// A number with 3 significant digits, e.g. `0.0123`, `1.50`, `246`, `1.23e4`, `-4.56e-7`: plain notation for
/// magnitudes in [1e-3, 1e4), scientific notation otherwise. Zero is `0`.
pub(crate) fn format_sig3(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let (r, e) = round_sig3(v);
    if (-3..4).contains(&e) {
        format!("{:.*}", (2 - e).max(0) as usize, r)
    } else {
        format!("{v:.2e}")
    }
}

/// Like [`format_sig3`] but without trailing zeros (`0.5`, `2`, `1e-3`), for the decade ticks of log axes.
pub(crate) fn format_tick(v: f64) -> String {
    let s = format_sig3(v);
    match s.find('e') {
        Some(i) => format!("{}{}", trim_zeros(s[..i].to_string()), &s[i..]),
        None => trim_zeros(s),
    }
}

/// Drops trailing zeros after a decimal point ("0.500" → "0.5", "2.0" → "2") and the sign of a zero.
fn trim_zeros(s: String) -> String {
    let t = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s.as_str() };
    if t == "-0" {
        "0".to_string()
    } else {
        t.to_string()
    }
}

/// Tick labels for a linear axis over [lo, hi]: plain numbers with as many decimals as the tick spacing needs
/// (one format for the whole axis, e.g. 0, 0.0005, 0.001) when the largest magnitude is in [1e-3, 1e5),
/// otherwise 3 significant digits in scientific notation. Values within 1e-9 of the span from zero are `0`
/// (tick positions computed as `start + i·step` pick up rounding noise such as 1.7e-18).
pub(crate) fn linear_tick_formatter(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let span = (hi - lo).abs();
    let magnitude = lo.abs().max(hi.abs());
    // Plotters puts at most ~10 ticks on an axis, so the spacing is at least span / 10.
    let decimals = if span > 0.0 && span.is_finite() { (-(span / 10.0).log10()).ceil() as i32 + 1 } else { 3 };
    let plain = (1e-3..1e5).contains(&magnitude) && decimals <= 8;
    let eps = span * 1e-9;
    move |v: &f64| {
        if v.abs() <= eps {
            "0".to_string()
        } else if plain {
            trim_zeros(format!("{:.*}", decimals.max(0) as usize, v))
        } else {
            format_tick(*v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(c: Rgb) -> f64 {
        0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64
    }

    #[test]
    fn sequential_luminance_rises_monotonically() {
        let s = ColourScale { lo: 0.0, hi: 1.0, scheme: Scheme::Sequential };
        let mut prev = -1.0;
        for i in 0..=256 {
            let l = luminance(s.colour_at(i as f64 / 256.0));
            // Up to half a level of 8-bit rounding per channel may dent the rise.
            assert!(l > prev - 0.5, "luminance must rise at step {i}: {l} after {prev}");
            prev = l;
        }
        assert_eq!(s.colour_at(0.0), SEQUENTIAL_STOPS[0].1);
        assert_eq!(s.colour_at(1.0), SEQUENTIAL_STOPS[5].1);
    }

    #[test]
    fn diverging_is_white_at_zero_and_balanced() {
        let s = ColourScale::for_values(&[-2.0, 1.0, f64::NAN]);
        assert_eq!(s.scheme, Scheme::Diverging);
        assert_eq!((s.lo, s.hi), (-2.0, 2.0));
        assert_eq!(s.colour(0.0), [247, 247, 247]);
        let (l_neg, l_pos) = (luminance(s.colour(-2.0)), luminance(s.colour(2.0)));
        assert!((l_neg - l_pos).abs() < 25.0, "ends should be about equally dark: {l_neg} vs {l_pos}");
        assert!(s.colour(-1.0)[2] > s.colour(-1.0)[0] && s.colour(1.0)[0] > s.colour(1.0)[2]);
    }

    #[test]
    fn degenerate_ranges_are_sane() {
        for values in [&[0.0, 0.0][..], &[], &[f64::NAN, f64::INFINITY]] {
            let s = ColourScale::for_values(values);
            assert_eq!((s.lo, s.hi, s.scheme), (0.0, 1.0, Scheme::Sequential));
        }
        let s = ColourScale::for_values(&[3.0, 3.0]);
        assert_eq!((s.lo, s.hi), (0.0, 3.0));
        assert_eq!(s.colour(f64::NAN), MISSING_COLOUR);
        assert_eq!(s.colour(f64::NEG_INFINITY), MISSING_COLOUR);
        assert_eq!(s.colour(1e300), s.colour_at(1.0));
        let s = ColourScale::for_values(&[f64::MAX, -f64::MAX]);
        assert_eq!((s.fraction(f64::MAX), s.fraction(0.0), s.fraction(-f64::MAX)), (1.0, 0.5, 0.0));
    }

    #[test]
    fn numbers_have_three_significant_digits() {
        assert_eq!(format_sig3(0.0), "0");
        assert_eq!(format_sig3(1.5), "1.50");
        assert_eq!(format_sig3(0.012345), "0.0123");
        assert_eq!(format_sig3(246.4), "246");
        assert_eq!(format_sig3(9.996), "10.0");
        assert_eq!(format_sig3(9999.7), "1.00e4");
        assert_eq!(format_sig3(12345.0), "1.23e4");
        assert_eq!(format_sig3(-4.5678e-7), "-4.57e-7");
        assert_eq!(format_sig3(0.001), "0.00100");
        assert_eq!(format_tick(0.5), "0.5");
        assert_eq!(format_tick(20.0), "20");
        assert_eq!(format_tick(1e-5), "1e-5");
        assert_eq!(format_tick(2.5e6), "2.5e6");
        let f = linear_tick_formatter(0.0, 0.0026);
        assert_eq!([f(&0.0005), f(&0.001), f(&0.0025), f(&1.7e-19)], ["0.0005", "0.001", "0.0025", "0"]);
        let f = linear_tick_formatter(-20.0, 20.0);
        assert_eq!([f(&-20.0), f(&-2.5), f(&10.0)], ["-20", "-2.5", "10"]);
        let f = linear_tick_formatter(100.0, 101.0);
        assert_eq!([f(&100.0), f(&100.2)], ["100", "100.2"]);
        let f = linear_tick_formatter(0.0, 3e-6);
        assert_eq!([f(&1e-6), f(&2.5e-6)], ["1e-6", "2.5e-6"]);
        let f = linear_tick_formatter(0.0, 2e6);
        assert_eq!(f(&1.5e6), "1.5e6");
    }
}
