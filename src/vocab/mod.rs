//! Words the probe-file compiler (`config`), the check kinds (`check`) and
//! the runner (`flow`) all speak: the security-header rules and profiles,
//! the error-leak catalogue, and how a duration is written. Below all three,
//! importing none.

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
