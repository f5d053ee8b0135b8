//! Ground-truth files: a phantom's iron map stored like a reconstruction (so `compare` can read either).

use magpie_core::mdf::{MdfFile, NumArray, Reconstruction};
use magpie_core::Grid;
use magpie_sim::phantom::Phantom;
use ndarray::{Array1, ArrayD, IxDyn};

/// An MDF file holding `map_ng` (ng Fe per voxel, x fastest) in `/reconstruction`, with grid and units.
pub fn truth_file(phantom: &Phantom, grid: &Grid, map_ng: &Array1<f64>) -> anyhow::Result<MdfFile> {
    let mut file = magpie_core::mdf::example::skeleton(1, 1, 2, 1);
    file.tracer = None;
    file.study.description = format!("ground truth of phantom {}", phantom.name);
    file.experiment.description = phantom.description.clone();
    file.experiment.subject = phantom.name.clone();
    let p = grid.len();
    file.reconstruction = Some(Reconstruction {
        data: NumArray::F64(ArrayD::from_shape_vec(IxDyn(&[1, p, 1]), map_ng.to_vec())?),
        field_of_view_m: Some(grid.fov_m),
        field_of_view_center_m: Some(grid.center_m),
        is_overscan_region: None,
        order: Some("xyz".into()),
        positions_m: None,
        size: Some(grid.shape),
        parameters: Default::default(),
    });
    file.provenance.insert("unit".into(), "ng Fe per voxel".into());
    file.provenance.insert("kind".into(), "ground truth".into());
    if let Ok(t) = phantom.to_toml_string() {
        file.provenance.insert("phantom".into(), t);
    }
    Ok(file)
}
