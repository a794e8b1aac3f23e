//! Words the probe-file compiler (`config`) and the runner (`flow`) both
//! speak: the security-header rules and profiles, the error-leak catalogue,
//! and how a duration is written. Below both, importing neither, so `config`
//! needs nothing from `flow`.

pub mod headers;
pub mod leaks;

use std::time::Duration;

pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
