//! Convex bodies written as one quadric inequality intersected with half-spaces, in local coordinates.
//!
//! Every extended shape of a phantom is convex and is the set {q : Q(q) ≤ 0, nᵢ·q ≤ dᵢ} with q = p − origin
//! and Q a quadratic polynomial:
//! a sphere or an axis-aligned ellipsoid is a quadric alone, a cylinder or (truncated) cone is the quadric of an
//! infinite cylinder or cone cut by its two cap planes, a box is six half-spaces. This single description gives the
//! exact intersection of any straight line with the body (a solved quadratic and a few divisions), which both the
//! point-mass sampler and the volume rasteriser build on. Local coordinates centred on the body keep the quadric's
//! coefficients well conditioned for bodies far from the origin.

/// The curved part of a body, Q(q) ≤ 0 in local coordinates. Each kind is evaluated in its own frame so that
/// Q keeps its relative accuracy near the surface however far along a long tube the point lies (the expanded
/// form qᵀAq + b·q + c of a cylinder subtracts two large squares there and loses ~8 digits).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Quadric {
    /// Σ (q_i / s_i)² − 1 with `inv_s2[i]` = 1/s_i² (axis-aligned ellipsoid centred at the origin).
    Ellipsoid { inv_s2: [f64; 3] },
    /// ρ² − (r_mid + k·s)², s = u·q the axial coordinate, ρ the distance from the axis through the origin along
    /// the unit vector `u` (a cylinder for k = 0, a cone otherwise; the caps are separate half-spaces).
    Frustum { u: [f64; 3], r_mid: f64, k: f64 },
}

impl Quadric {
    /// Q(q).
    pub fn eval(&self, q: [f64; 3]) -> f64 {
        match *self {
            Quadric::Ellipsoid { inv_s2 } => (0..3).map(|i| q[i] * q[i] * inv_s2[i]).sum::<f64>() - 1.0,
            Quadric::Frustum { u, r_mid, k } => {
                let s = dot(u, q);
                let w = perp(q, u, s);
                dot(w, w) - (r_mid + k * s).powi(2)
            }
        }
    }

    /// Coefficients `[a2, a1, a0]` of the polynomial t ↦ Q(p + t·v).
    pub fn on_line(&self, p: [f64; 3], v: [f64; 3]) -> [f64; 3] {
        match *self {
            Quadric::Ellipsoid { inv_s2 } => {
                let (mut a2, mut a1, mut a0) = (0.0, 0.0, -1.0);
                for i in 0..3 {
                    a2 += v[i] * v[i] * inv_s2[i];
                    a1 += 2.0 * p[i] * v[i] * inv_s2[i];
                    a0 += p[i] * p[i] * inv_s2[i];
                }
                [a2, a1, a0]
            }
            Quadric::Frustum { u, r_mid, k } => {
                let (sp, sv) = (dot(u, p), dot(u, v));
                let (wp, wv) = (perp(p, u, sp), perp(v, u, sv));
                let r0 = r_mid + k * sp;
                [dot(wv, wv) - k * k * sv * sv, 2.0 * (dot(wp, wv) - k * sv * r0), dot(wp, wp) - r0 * r0]
            }
        }
    }

    /// The coefficient of s·t in Q(p + s·v + t·w) (independent of p).
    pub fn bilinear(&self, v: [f64; 3], w: [f64; 3]) -> f64 {
        match *self {
            Quadric::Ellipsoid { inv_s2 } => 2.0 * (0..3).map(|i| v[i] * w[i] * inv_s2[i]).sum::<f64>(),
            Quadric::Frustum { u, k, .. } => {
                let (sv, sw) = (dot(u, v), dot(u, w));
                2.0 * (dot(perp(v, u, sv), perp(w, u, sw)) - k * k * sv * sw)
            }
        }
    }

    /// The set {t : Q(p + t·v) ≤ 0}. Around its vertex t_c = −a1/(2 a2) the polynomial is a2 (t − t_c)² + Q(p +
    /// t_c v), and evaluating Q at the vertex directly (instead of the discriminant a1² − 4 a2 a0, which cancels
    /// when the line grazes the surface far from the local origin) keeps short chords accurate to a few ulps of
    /// the body's size.
    fn line_set(&self, p: [f64; 3], v: [f64; 3]) -> QuadSet {
        let [a2, a1, a0] = self.on_line(p, v);
        let scale = dot(p, p).max(dot(v, v));
        if a2 != 0.0 {
            let tc = -a1 / (2.0 * a2);
            // A vertex far out (a line almost parallel to a cylinder's axis) is not evaluated there.
            if tc.is_finite() && tc * tc * dot(v, v) <= 1e6 * scale.max(f64::MIN_POSITIVE) {
                let qc = self.eval(std::array::from_fn(|i| p[i] + tc * v[i]));
                let half = (-qc / a2).max(0.0).sqrt();
                return match (a2 > 0.0, qc <= 0.0) {
                    (true, true) => QuadSet::Inside(tc - half, tc + half),
                    (true, false) => QuadSet::Empty,
                    (false, true) => QuadSet::All,
                    (false, false) => QuadSet::Outside(tc - half, tc + half),
                };
            }
        }
        quad_set(a2, a1, a0)
    }

    fn permuted(&self, pv: impl Fn([f64; 3]) -> [f64; 3]) -> Quadric {
        match *self {
            Quadric::Ellipsoid { inv_s2 } => Quadric::Ellipsoid { inv_s2: pv(inv_s2) },
            Quadric::Frustum { u, r_mid, k } => Quadric::Frustum { u: pv(u), r_mid, k },
        }
    }
}

/// The component of `q` perpendicular to the unit vector `u`, given s = u·q.
fn perp(q: [f64; 3], u: [f64; 3], s: f64) -> [f64; 3] {
    std::array::from_fn(|i| q[i] - s * u[i])
}

/// The half-space n·q ≤ d.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HalfSpace {
    pub n: [f64; 3],
    pub d: f64,
}

/// A convex body in local coordinates q = p − origin.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// World position of the local origin [m].
    pub origin: [f64; 3],
    pub quadric: Option<Quadric>,
    pub planes: Vec<HalfSpace>,
    /// Exact axis-aligned bounding box in local coordinates, `[axis][min, max]` [m].
    pub bbox: [[f64; 2]; 3],
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The solution set of α t² + β t + γ ≤ 0 on the real line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QuadSet {
    Empty,
    All,
    /// [t1, t2]
    Inside(f64, f64),
    /// (−∞, t1] ∪ [t2, ∞)
    Outside(f64, f64),
    /// (−∞, t]
    Below(f64),
    /// [t, ∞)
    Above(f64),
}

fn quad_set(alpha: f64, beta: f64, gamma: f64) -> QuadSet {
    if alpha == 0.0 {
        if beta == 0.0 {
            return if gamma <= 0.0 { QuadSet::All } else { QuadSet::Empty };
        }
        let t = -gamma / beta;
        return if beta > 0.0 { QuadSet::Below(t) } else { QuadSet::Above(t) };
    }
    let disc = beta * beta - 4.0 * alpha * gamma;
    if disc.is_nan() {
        return QuadSet::Empty;
    }
    if disc < 0.0 {
        return if alpha > 0.0 { QuadSet::Empty } else { QuadSet::All };
    }
    // Numerically stable roots (no cancellation when α is tiny, as for a cylinder almost parallel to the line).
    let q = -0.5 * (beta + beta.signum() * disc.sqrt());
    let (r1, r2) = if q != 0.0 { (q / alpha, gamma / q) } else { (0.0, 0.0) };
    let (t1, t2) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
    if alpha > 0.0 {
        QuadSet::Inside(t1, t2)
    } else {
        QuadSet::Outside(t1, t2)
    }
}

impl Body {
    /// The parameter interval [t0, t1] of the line q = p + t·u (local coordinates) inside the body, if any.
    pub fn line_interval(&self, p: [f64; 3], u: [f64; 3]) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for h in &self.planes {
            let nu = dot(h.n, u);
            let np = dot(h.n, p);
            if nu == 0.0 {
                if np > h.d {
                    return None;
                }
            } else {
                let t = (h.d - np) / nu;
                if nu > 0.0 {
                    hi = hi.min(t);
                } else {
                    lo = lo.max(t);
                }
            }
        }
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let Some(qd) = &self.quadric else {
            return Some((lo, hi));
        };
        let clip = |a: f64, b: f64| {
            let (a, b) = (a.max(lo), b.min(hi));
            (a <= b).then_some((a, b))
        };
        match qd.line_set(p, u) {
            QuadSet::Empty => None,
            QuadSet::All => Some((lo, hi)).filter(|(a, b)| a.is_finite() && b.is_finite()),
            QuadSet::Inside(t1, t2) => clip(t1, t2),
            QuadSet::Below(t) => clip(f64::NEG_INFINITY, t),
            QuadSet::Above(t) => clip(t, f64::INFINITY),
            QuadSet::Outside(t1, t2) => {
                // Convexity allows only one part inside the cap planes (the other nappe of a cone lies beyond
                // a cap); rounding near a cone's apex may leave a sliver of the other: keep the longer part.
                match (clip(f64::NEG_INFINITY, t1), clip(t2, f64::INFINITY)) {
                    (Some(a), Some(b)) => Some(if a.1 - a.0 >= b.1 - b.0 { a } else { b }),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// The extent of the body along local axis `k` on the line through local `q` parallel to that axis
    /// (the coordinate `q[k]` is ignored).
    pub fn axis_interval(&self, mut q: [f64; 3], k: usize) -> Option<(f64, f64)> {
        q[k] = 0.0;
        let mut u = [0.0; 3];
        u[k] = 1.0;
        self.line_interval(q, u)
    }

    /// Whether the local point `q` is inside (boundary included).
    pub fn contains_local(&self, q: [f64; 3]) -> bool {
        self.planes.iter().all(|h| dot(h.n, q) <= h.d) && self.quadric.is_none_or(|qd| qd.eval(q) <= 0.0)
    }

    /// The same body with axes permuted: new axis i is old axis `perm[i]`.
    pub fn permuted(&self, perm: [usize; 3]) -> Body {
        let pv = |v: [f64; 3]| -> [f64; 3] { std::array::from_fn(|i| v[perm[i]]) };
        Body {
            origin: pv(self.origin),
            quadric: self.quadric.map(|q| q.permuted(pv)),
            planes: self.planes.iter().map(|h| HalfSpace { n: pv(h.n), d: h.d }).collect(),
            bbox: std::array::from_fn(|i| self.bbox[perm[i]]),
        }
    }

    /// A sphere of radius `r` about `center`.
    pub fn sphere(center: [f64; 3], r: f64) -> Body {
        Self::ellipsoid(center, [r; 3])
    }

    /// An axis-aligned ellipsoid with semi-axes `s` about `center`.
    pub fn ellipsoid(center: [f64; 3], s: [f64; 3]) -> Body {
        Body {
            origin: center,
            quadric: Some(Quadric::Ellipsoid { inv_s2: s.map(|v| 1.0 / (v * v)) }),
            planes: vec![],
            bbox: std::array::from_fn(|i| [-s[i], s[i]]),
        }
    }

    /// An axis-aligned box of edge lengths `size` about `center`.
    pub fn cuboid(center: [f64; 3], size: [f64; 3]) -> Body {
        let mut planes = Vec::with_capacity(6);
        for i in 0..3 {
            let mut n = [0.0; 3];
            n[i] = 1.0;
            planes.push(HalfSpace { n, d: 0.5 * size[i] });
            n[i] = -1.0;
            planes.push(HalfSpace { n, d: 0.5 * size[i] });
        }
        Body { origin: center, quadric: None, planes, bbox: std::array::from_fn(|i| [-0.5 * size[i], 0.5 * size[i]]) }
    }

    /// A truncated cone (frustum) from the disc of radius `r0` about `p0` to the disc of radius `r1` about `p1`,
    /// of any orientation; `r0 == r1` is a cylinder, a zero radius a pointed cone. Needs `p0 != p1`.
    pub fn frustum(p0: [f64; 3], r0: f64, p1: [f64; 3], r1: f64) -> Body {
        let origin: [f64; 3] = std::array::from_fn(|i| 0.5 * (p0[i] + p1[i]));
        let axis: [f64; 3] = std::array::from_fn(|i| p1[i] - p0[i]);
        let len = dot(axis, axis).sqrt();
        let u: [f64; 3] = std::array::from_fn(|i| axis[i] / len);
        // With s = u·q the axial coordinate from the midpoint and ρ the distance from the axis, the lateral
        // surface is ρ = r_mid + k·s, k = (r1 − r0)/L (r_mid + k·s ≥ 0 holds between the caps).
        let k = (r1 - r0) / len;
        let r_mid = 0.5 * (r0 + r1);
        let planes =
            vec![HalfSpace { n: u, d: 0.5 * len }, HalfSpace { n: std::array::from_fn(|i| -u[i]), d: 0.5 * len }];
        // Extreme points along an axis lie on a cap's rim: a disc of radius r and normal u reaches r·√(1 − u_i²)
        // from its centre along axis i.
        let bbox = std::array::from_fn(|i| {
            let w = (1.0 - u[i] * u[i]).max(0.0).sqrt();
            let c0 = -0.5 * len * u[i];
            let c1 = 0.5 * len * u[i];
            [(c0 - r0 * w).min(c1 - r1 * w), (c0 + r0 * w).max(c1 + r1 * w)]
        });
        Body { origin, quadric: Some(Quadric::Frustum { u, r_mid, k }), planes, bbox }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_chords() {
        let b = Body::sphere([1.0, 2.0, 3.0], 2.0);
        let (lo, hi) = b.axis_interval([0.0, 0.0, 0.0], 2).unwrap();
        assert!((lo + 2.0).abs() < 1e-15 && (hi - 2.0).abs() < 1e-15);
        let (lo, hi) = b.axis_interval([1.2, 0.0, 0.0], 2).unwrap();
        assert!((hi - lo - 2.0 * (4.0f64 - 1.44).sqrt()).abs() < 1e-14);
        assert!(b.axis_interval([2.1, 0.0, 0.0], 2).is_none());
        assert!(b.contains_local([1.9, 0.0, 0.0]) && !b.contains_local([1.5, 1.5, 0.0]));
    }

    #[test]
    fn frustum_chords_along_and_across_the_axis() {
        // Cone along +z from radius 1 at z = 0 to radius 3 at z = 4.
        let b = Body::frustum([0.0, 0.0, 0.0], 1.0, [0.0, 0.0, 4.0], 3.0);
        assert_eq!(b.origin, [0.0, 0.0, 2.0]);
        // On the axis: the full height.
        let (lo, hi) = b.axis_interval([0.0, 0.0, 0.0], 2).unwrap();
        assert!((lo + 2.0).abs() < 1e-14 && (hi - 2.0).abs() < 1e-14, "{lo} {hi}");
        // At ρ = 2 (world): inside from z = 2 (where r = 2) to the top cap.
        let (lo, hi) = b.axis_interval([2.0, 0.0, 0.0], 2).unwrap();
        assert!((lo - 0.0).abs() < 1e-14 && (hi - 2.0).abs() < 1e-14, "{lo} {hi}");
        // Across the axis at world height z = 1 (r = 1.5).
        let (lo, hi) = b.axis_interval([0.0, 0.0, -1.0], 0).unwrap();
        assert!((lo + 1.5).abs() < 1e-14 && (hi - 1.5).abs() < 1e-14, "{lo} {hi}");
        assert_eq!(b.bbox, [[-3.0, 3.0], [-3.0, 3.0], [-2.0, 2.0]]);
        // A pointed cone: the apex is inside, points beyond it are not (no second nappe).
        let c = Body::frustum([0.0, 0.0, 0.0], 0.0, [0.0, 0.0, 1.0], 1.0);
        assert!(c.contains_local([0.0, 0.0, -0.5]));
        assert!(!c.contains_local([0.0, 0.0, -0.6]));
        assert!(!c.contains_local([0.1, 0.0, -0.6]));
        let (lo, hi) = c.axis_interval([0.0, 0.0, 0.0], 2).unwrap();
        assert!((lo + 0.5).abs() < 1e-14 && (hi - 0.5).abs() < 1e-14);
    }

    #[test]
    fn tilted_cylinder_matches_direct_membership() {
        let b = Body::frustum([-1.0, 0.5, -2.0], 0.7, [2.0, -1.0, 1.5], 0.7);
        let local = |p: [f64; 3]| -> [f64; 3] { std::array::from_fn(|i| p[i] - b.origin[i]) };
        let u = {
            let a = [3.0, -1.5, 3.5];
            let l = dot(a, a).sqrt();
            [a[0] / l, a[1] / l, a[2] / l]
        };
        let len = dot([3.0, -1.5, 3.5], u);
        // None within 1e-9 of the surface, where rounding decides.
        let inside = |p: [f64; 3]| {
            let q = [p[0] + 1.0, p[1] - 0.5, p[2] + 2.0];
            let s = dot(q, u);
            let rho2 = dot(q, q) - s * s;
            let margin = s.abs().min((s - len).abs()).min((rho2 - 0.49).abs());
            (margin > 1e-9).then_some((0.0..=len).contains(&s) && rho2 <= 0.49)
        };
        let mut n = 0;
        for i in 0..20 {
            for j in 0..20 {
                let x = -2.0 + 0.23 * i as f64;
                let y = -2.0 + 0.19 * j as f64;
                let iv = b.axis_interval(local([x, y, 0.0]), 2);
                for k in 0..40 {
                    let z = -3.0 + 0.17 * k as f64;
                    let Some(want) = inside([x, y, z]) else { continue };
                    let zl = z - b.origin[2];
                    let got = iv.is_some_and(|(lo, hi)| zl >= lo && zl <= hi);
                    assert_eq!(want, got, "{x} {y} {z}");
                    assert_eq!(want, b.contains_local(local([x, y, z])));
                    n += usize::from(want);
                }
            }
        }
        assert!(n > 100);
    }
}
