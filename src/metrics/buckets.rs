//! Placeholder until the bucket module lands (same API).
use std::time::Duration;
pub fn for_budgets(_budgets: &[Duration], timeout: Duration) -> Vec<f64> {
    default_buckets(timeout)
}
pub fn default_buckets(timeout: Duration) -> Vec<f64> {
    vec![0.005, 0.01, 0.05, 0.1, 0.5, 1.0, timeout.as_secs_f64()]
}
