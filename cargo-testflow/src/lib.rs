pub mod events;
pub mod model;
pub mod report;
