pub mod events;
pub mod model;
pub mod process;
pub mod runner;
