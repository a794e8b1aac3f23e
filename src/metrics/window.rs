//! Placeholder until the HDR window module lands (same API).
use std::time::{Duration, Instant};

pub struct WindowSpec {
    pub windows: Vec<Duration>,
}
impl Default for WindowSpec {
    fn default() -> Self {
        WindowSpec {
            windows: vec![Duration::from_secs(60)],
        }
    }
}
pub struct StepWindows;
impl StepWindows {
    pub fn new(_interval: Duration, _spec: &WindowSpec) -> Self {
        StepWindows
    }
    pub fn record(&mut self, _now: Instant, _d: Duration) {}
    pub fn read(&mut self, _now: Instant, _scratch: &mut Scratch) -> Vec<WindowQuantiles> {
        Vec::new()
    }
}
pub struct WindowQuantiles {
    pub window: Duration,
    pub count: u64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}
#[derive(Default)]
pub struct Scratch;
