pub mod events;
pub mod frameworks;
pub mod model;
