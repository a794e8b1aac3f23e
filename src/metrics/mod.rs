//! Metrics of the continuous mode: names (the only module that knows them),
//! the exporter that turns flow results into series, per-step histogram
//! buckets placed around the latency budgets, and HDR sliding-window quantiles.

pub mod buckets;
pub mod exporter;
pub mod names;
pub mod window;

pub use exporter::{CONTENT_TYPE, Metrics};
