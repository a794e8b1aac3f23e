//! Metrics of the continuous mode: names (the only module that knows them),
//! the exporter that turns flow results into series, per-step histogram
//! buckets placed around the latency budgets, HDR sliding-window quantiles,
//! each step's last runs (the status page's sparklines), and the process's
//! own memory, descriptors, CPU time and runtime tasks. The same state feeds
//! the status page (`Metrics::snapshot`).

pub mod buckets;
pub mod exporter;
pub mod history;
pub mod names;
pub mod process;
pub mod window;

pub use exporter::{CONTENT_TYPE, Metrics};
