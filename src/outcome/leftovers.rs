//! Objects the probe created and could not delete: never silent.
//!
//! When a cleanup (`always`) step fails, what it was deleting (its `cleans:`
//! description, or the captured values it uses) is recorded here as *left
//! behind*, shown in every report, page and metric, and retried on later
//! runs of the same flow — with the later run's fresh login — until the
//! target confirms it is gone. The list is bounded; dropping an entry is
//! logged as an error, because then only a sweep (`--flow +sweep-orphans`)
//! or a person can find the object.
//!
//! A step with `leaves:` creates something no step can delete (ContraVento
//! has no account-delete endpoint, so a registration leaves its user): when
//! it gets a 2xx answer, what it names is recorded here too, as not
//! *deletable* — shown everywhere like the others, never retried, and the
//! first to go when the list is full (nothing is lost but its line: it was
//! never going to be deleted by the probe).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Serialize;

/// Entries kept per process (all flows together).
pub const MAX_ENTRIES: usize = 100;
/// Left-behind objects a run retries (after its own steps), so a long list
/// never makes one run slow.
pub const RETRIES_PER_RUN: usize = 5;

/// One object left on the target.
#[derive(Clone, Debug, Serialize)]
pub struct LeftBehind {
    pub target: String,
    pub flow: String,
    /// The cleanup step that failed.
    pub step: String,
    /// What it is, redacted (e.g. `trip 5f… "[probe] smoke health-ab12"`).
    pub what: String,
    /// Why the cleanup failed, the last time it was tried.
    pub why: String,
    /// When it was left behind (RFC 3339, UTC).
    pub since: String,
    /// Deletes tried so far (the first one included); 0 for an object no
    /// step can delete.
    pub attempts: u32,
    /// Whether a step can delete it: `false` for what a `leaves:` step
    /// created (never retried; delete it by hand).
    pub deletable: bool,
    /// The captured values the cleanup step needs (never secret ones: a
    /// retry takes those, such as a token, from the run that retries).
    #[serde(skip)]
    pub(crate) values: Vec<(String, String)>,
}

impl LeftBehind {
    fn same_object(&self, other: &LeftBehind) -> bool {
        self.target == other.target
            && self.flow == other.flow
            && self.step == other.step
            && self.values == other.values
    }
}

/// The process's list of left-behind objects (shared by every runner, so a
/// reload keeps it).
#[derive(Default)]
pub struct Leftovers {
    items: Mutex<VecDeque<LeftBehind>>,
    dropped: Mutex<u64>,
}

static SHARED: OnceLock<Arc<Leftovers>> = OnceLock::new();

impl Leftovers {
    pub fn shared() -> Arc<Leftovers> {
        SHARED.get_or_init(Default::default).clone()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<LeftBehind>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an object (or updates it if already known). When the list is
    /// full the oldest object no step can delete makes room, or else the
    /// oldest of all.
    pub fn add(&self, item: LeftBehind) {
        let mut items = self.lock();
        if let Some(known) = items.iter_mut().find(|i| i.same_object(&item)) {
            if known.deletable {
                known.why = item.why;
                known.attempts += 1;
            }
            return;
        }
        if items.len() >= MAX_ENTRIES {
            let oldest = items.iter().position(|i| !i.deletable).unwrap_or(0);
            if let Some(old) = items.remove(oldest) {
                *self.dropped.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                let what = if old.deletable {
                    format!(
                        "no longer retrying {} (left since {}); find it with --flow +sweep-orphans or by hand",
                        old.what, old.since
                    )
                } else {
                    format!(
                        "no longer listing {} (left since {}), which no step can delete; delete it by hand",
                        old.what, old.since
                    )
                };
                tracing::error!(
                    target: "smokeprobe::cleanup",
                    flow = %old.flow,
                    step = %old.step,
                    "more than {MAX_ENTRIES} objects left behind: {what}"
                );
            }
        }
        items.push_back(item);
    }

    /// Puts a retried object back as it is (attempts already counted).
    pub fn add_back(&self, item: LeftBehind) {
        let mut items = self.lock();
        if !items.iter().any(|i| i.same_object(&item)) {
            items.push_back(item);
        }
    }

    /// Takes up to `n` of a flow's deletable objects out of the list to
    /// retry them (the others stay: nothing can delete them).
    pub fn take(&self, target: &str, flow: &str, n: usize) -> Vec<LeftBehind> {
        let mut items = self.lock();
        let mut out = Vec::new();
        let mut i = 0;
        while i < items.len() && out.len() < n {
            if items[i].target == target && items[i].flow == flow && items[i].deletable {
                if let Some(it) = items.remove(i) {
                    out.push(it);
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// Every object still left behind, oldest first.
    pub fn list(&self) -> Vec<LeftBehind> {
        self.lock().iter().cloned().collect()
    }

    /// Objects dropped from the full list (no longer retried or listed).
    pub fn dropped(&self) -> u64 {
        *self.dropped.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(flow: &str, id: &str) -> LeftBehind {
        LeftBehind {
            target: "t".into(),
            flow: flow.into(),
            step: "delete".into(),
            what: format!("trip {id}"),
            why: "502".into(),
            since: "now".into(),
            attempts: 1,
            deletable: true,
            values: vec![("trip_id".into(), id.into())],
        }
    }

    fn user(id: &str) -> LeftBehind {
        LeftBehind {
            step: "register".into(),
            what: format!("user {id}"),
            why: "no step can delete it".into(),
            attempts: 0,
            deletable: false,
            values: vec![("new_user".into(), id.into())],
            ..item("a", id)
        }
    }

    #[test]
    fn undeletable_objects_are_listed_once_never_taken_and_make_room_first() {
        let l = Leftovers::default();
        l.add(user("u1"));
        l.add(user("u1"));
        assert_eq!(l.list().len(), 1, "the same object is listed once");
        assert_eq!(l.list()[0].attempts, 0, "nothing tried to delete it");
        l.add(item("a", "t1"));
        let taken = l.take("t", "a", 5);
        assert_eq!(taken.len(), 1);
        assert_eq!(
            taken[0].what, "trip t1",
            "only the deletable one is retried"
        );
        assert_eq!(l.list().len(), 1, "the user stays listed");
        // A full list drops the oldest undeletable object, not a trip that
        // a later run could still delete.
        for i in 0..MAX_ENTRIES - 1 {
            l.add(item("a", &i.to_string()));
        }
        l.add(user("u2"));
        let left = l.list();
        assert_eq!(left.len(), MAX_ENTRIES);
        assert!(!left.iter().any(|i| i.what == "user u1"), "u1 made room");
        assert_eq!(left.iter().filter(|i| i.deletable).count(), MAX_ENTRIES - 1);
        assert_eq!(l.dropped(), 1);
    }

    #[test]
    fn the_list_is_bounded_deduplicated_and_taken_per_flow() {
        let l = Leftovers::default();
        l.add(item("a", "1"));
        l.add(item("a", "1"));
        assert_eq!(l.list().len(), 1);
        assert_eq!(l.list()[0].attempts, 2);
        for i in 0..MAX_ENTRIES + 3 {
            l.add(item("b", &i.to_string()));
        }
        assert_eq!(l.list().len(), MAX_ENTRIES);
        assert_eq!(l.dropped(), 4);
        let taken = l.take("t", "b", 3);
        assert_eq!(taken.len(), 3);
        assert!(taken.iter().all(|t| t.flow == "b"));
        assert_eq!(l.list().len(), MAX_ENTRIES - 3);
        assert!(
            l.take("t", "a", 5).is_empty(),
            "a's entry was dropped first"
        );
    }
}
