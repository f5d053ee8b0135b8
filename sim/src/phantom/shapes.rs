//! Source geometry: points and convex solids, SI inside, millimetres or metres in TOML.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::body::Body;
use super::FieldError;

/// The geometry of a source. All coordinates are world positions [m]; the solids are filled uniformly.
///
/// In TOML a shape is a table with a `type` and its fields, each length with its unit in the key: `_mm` or `_m`
/// (exactly one of the two), for example `{ type = "sphere", center_mm = [0, 0, 0], radius_mm = 0.5 }`. It is
/// always written back in metres (`center_m`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawShape", into = "RawShape")]
pub enum Shape {
    /// A point source (no volume). TOML: `type = "point"`, `position_mm`.
    Point {
        /// Position [m].
        position_m: [f64; 3],
    },
    /// A ball. TOML: `type = "sphere"`, `center_mm`, `radius_mm`.
    Sphere {
        /// Centre [m].
        center_m: [f64; 3],
        /// Radius [m].
        radius_m: f64,
    },
    /// An axis-aligned ellipsoid. TOML: `type = "ellipsoid"`, `center_mm`, `semi_axes_mm`.
    Ellipsoid {
        /// Centre [m].
        center_m: [f64; 3],
        /// Semi-axes along x, y, z [m].
        semi_axes_m: [f64; 3],
    },
    /// A solid circular cylinder (a filled tube) of any orientation. TOML: `type = "cylinder"` (or `"tube"`),
    /// `start_mm`, `end_mm`, `radius_mm`.
    Cylinder {
        /// Centre of one end face [m].
        start_m: [f64; 3],
        /// Centre of the other end face [m].
        end_m: [f64; 3],
        /// Radius [m].
        radius_m: f64,
    },
    /// An axis-aligned box (cuboid). TOML: `type = "box"` (or `"cuboid"`), `center_mm`, `size_mm`.
    Box {
        /// Centre [m].
        center_m: [f64; 3],
        /// Edge lengths along x, y, z [m].
        size_m: [f64; 3],
    },
    /// A solid circular cone of any orientation, truncated when `tip_radius_m > 0` (a frustum). TOML:
    /// `type = "cone"`, `apex_mm`, `base_center_mm`, and either `base_radius_mm` or `half_angle_deg` (the
    /// half opening angle: base radius = tip radius + height·tan(angle)), optionally `tip_radius_mm` (default 0).
    Cone {
        /// The apex, or for a truncated cone the centre of the small (tip) end face [m].
        apex_m: [f64; 3],
        /// Centre of the base face [m].
        base_center_m: [f64; 3],
        /// Radius of the base face [m].
        base_radius_m: f64,
        /// Radius of the tip face [m] (0 for a pointed cone).
        tip_radius_m: f64,
    },
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn lerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    std::array::from_fn(|i| a[i] + t * (b[i] - a[i]))
}

/// Volume and axial centroid (fraction of the height from the `r0` end) of a frustum.
fn frustum_volume_centroid(r0: f64, r1: f64, height: f64) -> (f64, f64) {
    let s = r0 * r0 + r0 * r1 + r1 * r1;
    (PI * height / 3.0 * s, (r0 * r0 + 2.0 * r0 * r1 + 3.0 * r1 * r1) / (4.0 * s))
}

impl Shape {
    /// A short name of the kind of shape (`"sphere"`, …), as in TOML.
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Point { .. } => "point",
            Shape::Sphere { .. } => "sphere",
            Shape::Ellipsoid { .. } => "ellipsoid",
            Shape::Cylinder { .. } => "cylinder",
            Shape::Box { .. } => "box",
            Shape::Cone { .. } => "cone",
        }
    }

    /// Volume [m³] (closed forms; 0 for a point).
    pub fn volume_m3(&self) -> f64 {
        match *self {
            Shape::Point { .. } => 0.0,
            Shape::Sphere { radius_m, .. } => 4.0 / 3.0 * PI * radius_m.powi(3),
            Shape::Ellipsoid { semi_axes_m: s, .. } => 4.0 / 3.0 * PI * s[0] * s[1] * s[2],
            Shape::Cylinder { start_m, end_m, radius_m } => PI * radius_m * radius_m * dist(start_m, end_m),
            Shape::Box { size_m: s, .. } => s[0] * s[1] * s[2],
            Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m } => {
                frustum_volume_centroid(tip_radius_m, base_radius_m, dist(apex_m, base_center_m)).0
            }
        }
    }

    /// Centroid (centre of volume) [m].
    pub fn centroid_m(&self) -> [f64; 3] {
        match *self {
            Shape::Point { position_m } => position_m,
            Shape::Sphere { center_m, .. } | Shape::Ellipsoid { center_m, .. } | Shape::Box { center_m, .. } => {
                center_m
            }
            Shape::Cylinder { start_m, end_m, .. } => lerp(start_m, end_m, 0.5),
            Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m } => {
                let (_, t) = frustum_volume_centroid(tip_radius_m, base_radius_m, dist(apex_m, base_center_m));
                lerp(apex_m, base_center_m, t)
            }
        }
    }

    /// Exact axis-aligned bounding box, `[axis][min, max]` [m].
    pub fn bounding_box_m(&self) -> [[f64; 2]; 3] {
        match (self, self.body()) {
            (Shape::Point { position_m: p }, _) => std::array::from_fn(|i| [p[i], p[i]]),
            (_, Some(b)) => std::array::from_fn(|i| [b.bbox[i][0] + b.origin[i], b.bbox[i][1] + b.origin[i]]),
            (_, None) => [[f64::NAN; 2]; 3],
        }
    }

    /// Whether `position_m` lies inside the shape (boundary included; never for a point).
    pub fn contains(&self, position_m: [f64; 3]) -> bool {
        self.body().is_some_and(|b| b.contains_local(std::array::from_fn(|i| position_m[i] - b.origin[i])))
    }

    /// The convex-body description of an extended shape (`None` for a point).
    pub(crate) fn body(&self) -> Option<Body> {
        Some(match *self {
            Shape::Point { .. } => return None,
            Shape::Sphere { center_m, radius_m } => Body::sphere(center_m, radius_m),
            Shape::Ellipsoid { center_m, semi_axes_m } => Body::ellipsoid(center_m, semi_axes_m),
            Shape::Cylinder { start_m, end_m, radius_m } => Body::frustum(start_m, radius_m, end_m, radius_m),
            Shape::Box { center_m, size_m } => Body::cuboid(center_m, size_m),
            Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m } => {
                Body::frustum(apex_m, tip_radius_m, base_center_m, base_radius_m)
            }
        })
    }

    /// Every field in range (SI field names in the error).
    pub(crate) fn check(&self) -> Result<(), FieldError> {
        fn point(field: &'static str, p: [f64; 3]) -> Result<(), FieldError> {
            if p.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err(FieldError::new(field, format!("must be finite (got {p:?})")))
            }
        }
        fn positive(field: &'static str, v: f64) -> Result<(), FieldError> {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(FieldError::new(field, format!("must be positive and finite (got {v})")))
            }
        }
        fn non_negative(field: &'static str, v: f64) -> Result<(), FieldError> {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(FieldError::new(field, format!("must be non-negative and finite (got {v})")))
            }
        }
        match *self {
            Shape::Point { position_m } => point("position_m", position_m),
            Shape::Sphere { center_m, radius_m } => {
                point("center_m", center_m)?;
                positive("radius_m", radius_m)
            }
            Shape::Ellipsoid { center_m, semi_axes_m } => {
                point("center_m", center_m)?;
                semi_axes_m.iter().try_for_each(|v| positive("semi_axes_m", *v))
            }
            Shape::Box { center_m, size_m } => {
                point("center_m", center_m)?;
                size_m.iter().try_for_each(|v| positive("size_m", *v))
            }
            Shape::Cylinder { start_m, end_m, radius_m } => {
                point("start_m", start_m)?;
                point("end_m", end_m)?;
                positive("radius_m", radius_m)?;
                if dist(start_m, end_m) <= 0.0 {
                    return Err(FieldError::new("end_m", "must differ from start_m (zero-length cylinder)"));
                }
                Ok(())
            }
            Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m } => {
                point("apex_m", apex_m)?;
                point("base_center_m", base_center_m)?;
                non_negative("base_radius_m", base_radius_m)?;
                non_negative("tip_radius_m", tip_radius_m)?;
                if dist(apex_m, base_center_m) <= 0.0 {
                    return Err(FieldError::new("base_center_m", "must differ from apex_m (zero-height cone)"));
                }
                if base_radius_m == 0.0 && tip_radius_m == 0.0 {
                    return Err(FieldError::new("base_radius_m", "and tip_radius_m are both 0 (no volume)"));
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// TOML form.

/// A length or position given in metres or millimetres.
type Unit<T> = (Option<T>, Option<T>);

fn pick<T: Copy + Scale>(si: &'static str, mm: &'static str, v: Unit<T>) -> Result<(T, &'static str), FieldError> {
    match v {
        (Some(x), None) => Ok((x, si)),
        (None, Some(x)) => Ok((x.scaled(1e-3), mm)),
        (Some(_), Some(_)) => Err(FieldError::new(mm, format!("given together with `{si}`: give only one"))),
        (None, None) => Err(FieldError::new(mm, format!("missing (give `{mm}` or `{si}`)"))),
    }
}

trait Scale {
    fn scaled(self, f: f64) -> Self;
}
impl Scale for f64 {
    fn scaled(self, f: f64) -> Self {
        self * f
    }
}
impl Scale for [f64; 3] {
    fn scaled(self, f: f64) -> Self {
        self.map(|v| v * f)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum RawShape {
    Point(RawPoint),
    Sphere(RawSphere),
    Ellipsoid(RawEllipsoid),
    #[serde(alias = "tube")]
    Cylinder(RawCylinder),
    #[serde(alias = "cuboid")]
    Box(RawBox),
    Cone(RawCone),
}

macro_rules! raw_struct {
    ($name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            $(#[serde(default, skip_serializing_if = "Option::is_none")] $f: Option<$t>,)*
        }
    };
}

raw_struct!(RawPoint { position_m: [f64; 3], position_mm: [f64; 3] });
raw_struct!(RawSphere { center_m: [f64; 3], center_mm: [f64; 3], radius_m: f64, radius_mm: f64 });
raw_struct!(RawEllipsoid { center_m: [f64; 3], center_mm: [f64; 3], semi_axes_m: [f64; 3], semi_axes_mm: [f64; 3] });
raw_struct!(RawCylinder {
    start_m: [f64; 3],
    start_mm: [f64; 3],
    end_m: [f64; 3],
    end_mm: [f64; 3],
    radius_m: f64,
    radius_mm: f64,
});
raw_struct!(RawBox { center_m: [f64; 3], center_mm: [f64; 3], size_m: [f64; 3], size_mm: [f64; 3] });
raw_struct!(RawCone {
    apex_m: [f64; 3],
    apex_mm: [f64; 3],
    base_center_m: [f64; 3],
    base_center_mm: [f64; 3],
    base_radius_m: f64,
    base_radius_mm: f64,
    half_angle_deg: f64,
    tip_radius_m: f64,
    tip_radius_mm: f64,
});

/// Which TOML key gave each SI field, to name the key the user wrote in errors.
pub(crate) type KeyMap = Vec<(&'static str, &'static str)>;

impl RawShape {
    /// Converts to SI (without range checks) and records the keys used.
    pub(crate) fn to_shape(&self) -> Result<(Shape, KeyMap), FieldError> {
        fn get<T: Copy + Scale>(
            keys: &mut KeyMap,
            si: &'static str,
            mm: &'static str,
            v: Unit<T>,
        ) -> Result<T, FieldError> {
            let (x, k) = pick(si, mm, v)?;
            keys.push((si, k));
            Ok(x)
        }
        let mut keys = KeyMap::new();
        let keys = &mut keys;
        let shape = match self {
            RawShape::Point(r) => {
                Shape::Point { position_m: get(keys, "position_m", "position_mm", (r.position_m, r.position_mm))? }
            }
            RawShape::Sphere(r) => Shape::Sphere {
                center_m: get(keys, "center_m", "center_mm", (r.center_m, r.center_mm))?,
                radius_m: get(keys, "radius_m", "radius_mm", (r.radius_m, r.radius_mm))?,
            },
            RawShape::Ellipsoid(r) => Shape::Ellipsoid {
                center_m: get(keys, "center_m", "center_mm", (r.center_m, r.center_mm))?,
                semi_axes_m: get(keys, "semi_axes_m", "semi_axes_mm", (r.semi_axes_m, r.semi_axes_mm))?,
            },
            RawShape::Cylinder(r) => Shape::Cylinder {
                start_m: get(keys, "start_m", "start_mm", (r.start_m, r.start_mm))?,
                end_m: get(keys, "end_m", "end_mm", (r.end_m, r.end_mm))?,
                radius_m: get(keys, "radius_m", "radius_mm", (r.radius_m, r.radius_mm))?,
            },
            RawShape::Box(r) => Shape::Box {
                center_m: get(keys, "center_m", "center_mm", (r.center_m, r.center_mm))?,
                size_m: get(keys, "size_m", "size_mm", (r.size_m, r.size_mm))?,
            },
            RawShape::Cone(r) => {
                let apex_m = get(keys, "apex_m", "apex_mm", (r.apex_m, r.apex_mm))?;
                let base_center_m = get(keys, "base_center_m", "base_center_mm", (r.base_center_m, r.base_center_mm))?;
                let tip_radius_m = match (r.tip_radius_m, r.tip_radius_mm) {
                    (None, None) => 0.0,
                    v => get(keys, "tip_radius_m", "tip_radius_mm", v)?,
                };
                let base_radius_m = match (r.base_radius_m, r.base_radius_mm, r.half_angle_deg) {
                    (None, None, Some(deg)) => {
                        if !(0.0..90.0).contains(&deg) {
                            return Err(FieldError::new("half_angle_deg", format!("must be in [0, 90) (got {deg})")));
                        }
                        keys.push(("base_radius_m", "half_angle_deg"));
                        tip_radius_m + dist(apex_m, base_center_m) * deg.to_radians().tan()
                    }
                    (a, b, None) => get(keys, "base_radius_m", "base_radius_mm", (a, b))?,
                    (_, _, Some(_)) => {
                        return Err(FieldError::new(
                            "half_angle_deg",
                            "given together with a base radius: give only one of them",
                        ))
                    }
                };
                Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m }
            }
        };
        Ok((shape, std::mem::take(keys)))
    }
}

impl TryFrom<RawShape> for Shape {
    type Error = String;
    fn try_from(raw: RawShape) -> Result<Self, String> {
        let (shape, keys) = raw.to_shape().map_err(|e| e.to_string())?;
        shape.check().map_err(|e| e.renamed(&keys).to_string())?;
        Ok(shape)
    }
}

impl From<Shape> for RawShape {
    fn from(s: Shape) -> Self {
        match s {
            Shape::Point { position_m } => {
                RawShape::Point(RawPoint { position_m: Some(position_m), ..Default::default() })
            }
            Shape::Sphere { center_m, radius_m } => {
                RawShape::Sphere(RawSphere { center_m: Some(center_m), radius_m: Some(radius_m), ..Default::default() })
            }
            Shape::Ellipsoid { center_m, semi_axes_m } => RawShape::Ellipsoid(RawEllipsoid {
                center_m: Some(center_m),
                semi_axes_m: Some(semi_axes_m),
                ..Default::default()
            }),
            Shape::Cylinder { start_m, end_m, radius_m } => RawShape::Cylinder(RawCylinder {
                start_m: Some(start_m),
                end_m: Some(end_m),
                radius_m: Some(radius_m),
                ..Default::default()
            }),
            Shape::Box { center_m, size_m } => {
                RawShape::Box(RawBox { center_m: Some(center_m), size_m: Some(size_m), ..Default::default() })
            }
            Shape::Cone { apex_m, base_center_m, base_radius_m, tip_radius_m } => RawShape::Cone(RawCone {
                apex_m: Some(apex_m),
                base_center_m: Some(base_center_m),
                base_radius_m: Some(base_radius_m),
                tip_radius_m: Some(tip_radius_m),
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_volumes_and_centroids() {
        let s = Shape::Sphere { center_m: [1e-3, 0.0, 0.0], radius_m: 2e-3 };
        assert!((s.volume_m3() - 4.0 / 3.0 * PI * 8e-9).abs() < 1e-24);
        let c = Shape::Cylinder { start_m: [0.0; 3], end_m: [3e-3, 4e-3, 0.0], radius_m: 1e-3 };
        assert!((c.volume_m3() - PI * 1e-6 * 5e-3).abs() < 1e-22);
        assert_eq!(c.centroid_m(), [1.5e-3, 2e-3, 0.0]);
        // Pointed cone: V = π r² h / 3, centroid 3/4 of the way from the apex.
        let k = Shape::Cone { apex_m: [0.0; 3], base_center_m: [0.0, 0.0, 4.0], base_radius_m: 1.0, tip_radius_m: 0.0 };
        assert!((k.volume_m3() - PI * 4.0 / 3.0).abs() < 1e-14);
        assert!((k.centroid_m()[2] - 3.0).abs() < 1e-14);
        // Truncated cone = big cone minus the cut-off tip: r 1 → 2 over h 2 is the cone (apex at −2) of h 4, r 2
        // minus the cone of h 2, r 1.
        let f = Shape::Cone { apex_m: [0.0; 3], base_center_m: [0.0, 0.0, 2.0], base_radius_m: 2.0, tip_radius_m: 1.0 };
        let want = PI * 4.0 * 4.0 / 3.0 - PI * 2.0 / 3.0;
        assert!((f.volume_m3() - want).abs() < 1e-13);
        // Its centroid from the composite: (V_big·z_big − V_small·z_small)/V with z measured from z = −2.
        let zc = (PI * 16.0 / 3.0 * 3.0 - PI * 2.0 / 3.0 * 1.5) / want - 2.0;
        assert!((f.centroid_m()[2] - zc).abs() < 1e-13);
        let b = Shape::Box { center_m: [0.0; 3], size_m: [1.0, 2.0, 3.0] };
        assert_eq!(b.volume_m3(), 6.0);
        let e = Shape::Ellipsoid { center_m: [0.0; 3], semi_axes_m: [1.0, 2.0, 3.0] };
        assert!((e.volume_m3() - 8.0 * PI).abs() < 1e-13);
    }

    #[test]
    fn bounding_boxes_are_exact() {
        let c = Shape::Cylinder { start_m: [0.0, 0.0, 0.0], end_m: [0.0, 0.0, 2.0], radius_m: 0.5 };
        assert_eq!(c.bounding_box_m(), [[-0.5, 0.5], [-0.5, 0.5], [0.0, 2.0]]);
        let b = Shape::Box { center_m: [1.0, 0.0, 0.0], size_m: [2.0, 2.0, 4.0] };
        assert_eq!(b.bounding_box_m(), [[0.0, 2.0], [-1.0, 1.0], [-2.0, 2.0]]);
        assert!(b.contains([1.9, 0.9, -1.9]) && !b.contains([2.1, 0.0, 0.0]));
    }
}
