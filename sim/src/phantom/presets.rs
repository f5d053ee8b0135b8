//! The built-in phantoms, embedded from `sample_data/phantoms/*.toml` (see its README for the design choices).

macro_rules! preset {
    ($name:literal) => {
        ($name, include_str!(concat!("../../../sample_data/phantoms/", $name, ".toml")))
    };
}

/// (name, TOML text) of every preset; the name is the file name and the phantom's `name`.
pub(crate) const PRESETS: [(&str, &str); 7] = [
    preset!("shape_cone"),
    preset!("resolution_tubes"),
    preset!("concentration_cubes"),
    preset!("concentration_cubes_2d"),
    preset!("two_points"),
    preset!("rat_striatum_graft"),
    preset!("dilution_series"),
];
