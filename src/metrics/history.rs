//! A step's recent runs for the status page's sparkline: the last
//! [`HISTORY_LEN`] outcomes and durations in a fixed ring (8 bytes each,
//! allocated once, never grows), oldest first when read.

use std::time::Duration;

/// Runs kept per step.
pub const HISTORY_LEN: usize = 60;

/// One run of a step, as the sparkline draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// Microseconds (clamped to `u32`), or `None` when the target never
    /// answered (a connection error, a timeout).
    pub micros: Option<u32>,
    pub passed: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// `u32::MAX` marks "no duration".
    micros: u32,
    passed: bool,
}

/// The ring.
#[derive(Debug)]
pub struct History {
    slots: Box<[Slot; HISTORY_LEN]>,
    /// Index the next point goes to.
    next: usize,
    len: usize,
}

impl Default for History {
    fn default() -> Self {
        History {
            slots: Box::new([Slot::default(); HISTORY_LEN]),
            next: 0,
            len: 0,
        }
    }
}

impl History {
    /// Records a run of the step; the oldest point goes once the ring is full.
    pub fn push(&mut self, duration: Option<Duration>, passed: bool) {
        let micros = duration.map_or(u32::MAX, |d| {
            u32::try_from(d.as_micros()).unwrap_or(u32::MAX - 1)
        });
        self.slots[self.next] = Slot { micros, passed };
        self.next = (self.next + 1) % HISTORY_LEN;
        self.len = (self.len + 1).min(HISTORY_LEN);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The points, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let start = (self.next + HISTORY_LEN - self.len) % HISTORY_LEN;
        (0..self.len)
            .map(|i| {
                let s = self.slots[(start + i) % HISTORY_LEN];
                Point {
                    micros: (s.micros != u32::MAX).then_some(s.micros),
                    passed: s.passed,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_runs_oldest_first() {
        let mut h = History::default();
        assert!(h.points().is_empty());
        h.push(Some(Duration::from_micros(5)), true);
        h.push(None, false);
        assert_eq!(
            h.points(),
            vec![
                Point {
                    micros: Some(5),
                    passed: true
                },
                Point {
                    micros: None,
                    passed: false
                }
            ]
        );
        for i in 0..(HISTORY_LEN as u64 + 7) {
            h.push(Some(Duration::from_micros(100 + i)), i % 2 == 0);
        }
        let p = h.points();
        assert_eq!(p.len(), HISTORY_LEN);
        assert_eq!(p[0].micros, Some(107));
        assert_eq!(
            p[HISTORY_LEN - 1].micros,
            Some(100 + HISTORY_LEN as u32 + 6)
        );
        // An absurd duration is clamped, not taken for "no answer".
        h.push(Some(Duration::from_secs(10_000)), true);
        assert_eq!(h.points().last().unwrap().micros, Some(u32::MAX - 1));
    }
}
