//! Closed-form particle physics shared by the simulator and the x-space reconstructor.

pub mod langevin;
