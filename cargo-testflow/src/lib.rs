pub mod events;
pub mod model;
