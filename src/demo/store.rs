//! In-memory data of the demo backend: users, sessions, trips and photo metadata,
//! plus the account-lockout rule. Everything here is synchronous and is only ever
//! touched under the state's mutex, never across an `.await`.
//!
//! Memory is bounded: users, trips and sessions have caps, photos are capped per
//! trip and only their metadata is kept (the bytes served from `/storage` are one
//! shared generated JPEG).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::builtins::{random_alnum, rfc3339_utc, today_utc, uuid_v4};

use super::DemoOptions;

/// Access tokens live 15 minutes, like the real backend's (`expires_in: 900`).
pub(super) const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Consecutive wrong passwords that lock an account.
pub(super) const LOCKOUT_THRESHOLD: u32 = 5;
/// How long a locked account stays locked.
pub(super) const LOCKOUT_DURATION: Duration = Duration::from_secs(15 * 60);
pub(super) const MAX_PHOTOS_PER_TRIP: usize = 6;
pub(super) const MAX_USERS: usize = 10_000;
pub(super) const MAX_TRIPS: usize = 2_000;
const MAX_SESSIONS: usize = 10_000;

/// The second seeded, verified account: lets tests check "not the owner" answers.
pub const OTHER_USERNAME: &str = "other_rider";

/// Index of a user in [`Store::users`] (users are never deleted).
pub(super) type UserIdx = usize;

pub(super) struct User {
    pub user_id: String,
    pub username: String,
    pub email: String,
    password: String,
    pub is_verified: bool,
    pub created_at: String,
    failed_logins: u32,
    locked_until: Option<Instant>,
}

struct Session {
    user: UserIdx,
    expires: Instant,
    /// The refresh token handed out with this access token (the demo has no
    /// refresh endpoint; it is kept so tests can look for it in the probe's output).
    refresh: String,
}

pub(super) struct Location {
    pub location_id: String,
    pub name: String,
    pub country: Option<String>,
}

pub(super) struct Photo {
    pub id: String,
    pub photo_url: String,
    pub thumb_url: String,
    pub file_size: usize,
    pub width: u32,
    pub height: u32,
    pub uploaded_at: String,
}

pub(super) struct Trip {
    pub trip_id: String,
    pub owner: UserIdx,
    pub title: String,
    pub description: Option<String>,
    pub start_date: String,
    pub end_date: Option<String>,
    pub distance_km: Option<f64>,
    pub difficulty: Option<String>,
    pub locations: Vec<Location>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `Some` once published: (timestamp as shown, Unix seconds for ordering).
    pub published: Option<(String, f64)>,
    pub photos: Vec<Photo>,
    /// Creation order, the tie-breaker for equal publication times.
    pub seq: u64,
}

impl Trip {
    pub fn status(&self) -> &'static str {
        if self.published.is_some() {
            "published"
        } else {
            "draft"
        }
    }
}

/// Result of a password check against an existing account.
pub(super) enum LoginOutcome {
    Ok,
    WrongPassword,
    Locked,
}

pub(super) struct Store {
    pub users: Vec<User>,
    sessions: HashMap<String, Session>,
    /// Tokens in the order they were issued, which (one TTL for all) is also
    /// the order they expire in: the front is the one to forget first.
    session_order: VecDeque<String>,
    pub trips: HashMap<String, Trip>,
    /// photo id → trip id, so `/storage` lookups need not scan every trip.
    photo_index: HashMap<String, String>,
    next_seq: u64,
}

/// `2026-11-26T00:37:10.787724`: the backend's naive timestamps, microsecond precision.
/// Callers append `Z` or `+00:00Z` where the real backend does.
pub(super) fn naive_timestamp(unix: f64) -> String {
    let base = rfc3339_utc(unix);
    let micros = ((unix - unix.floor()) * 1e6).floor() as u32;
    format!("{}.{micros:06}", base.get(..19).unwrap_or(&base))
}

/// `YYYY/MM` of today, the directory the backend files photos under.
pub(super) fn photo_month() -> String {
    today_utc().get(..7).unwrap_or("1970-01").replace('-', "/")
}

impl Store {
    /// The demo's starting data: the probe account, a second verified account and
    /// two trips of that account already in the public feed.
    pub fn seeded(opts: &DemoOptions, now: f64) -> Store {
        let mut store = Store {
            users: Vec::new(),
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
            trips: HashMap::new(),
            photo_index: HashMap::new(),
            next_seq: 0,
        };
        store.add_user(&opts.username, &opts.email, &opts.password, true, now);
        if store.find_login(OTHER_USERNAME).is_none() {
            let rider = store.add_user(
                OTHER_USERNAME,
                "other_rider@contravento.example",
                &opts.password,
                true,
                now,
            );
            store.seed_trip(
                rider,
                now,
                3,
                "Vuelta al Moncayo en gravel",
                "Tarazona",
                true,
            );
            store.seed_trip(
                rider,
                now,
                9,
                "Transpirenaica: etapa de Ansó",
                "Ansó",
                false,
            );
        }
        store
    }

    fn seed_trip(
        &mut self,
        owner: UserIdx,
        now: f64,
        days_ago: i64,
        title: &str,
        place: &str,
        photo: bool,
    ) {
        let published_unix = now - (days_ago * 86_400) as f64;
        let mut trip = Trip {
            trip_id: uuid_v4(),
            owner,
            title: title.to_owned(),
            description: Some(format!(
                "{title}: una ruta de varios días con pistas, puertos y pueblos con fuente y sombra."
            )),
            start_date: crate::builtins::date_utc(-days_ago - 7),
            end_date: Some(crate::builtins::date_utc(-days_ago - 5)),
            distance_km: Some(87.5),
            difficulty: Some("moderate".to_owned()),
            locations: vec![Location {
                location_id: uuid_v4(),
                name: place.to_owned(),
                country: Some("España".to_owned()),
            }],
            tags: vec!["gravel".to_owned()],
            created_at: naive_timestamp(published_unix),
            updated_at: naive_timestamp(published_unix),
            published: Some((
                format!("{}Z", naive_timestamp(published_unix)),
                published_unix,
            )),
            photos: Vec::new(),
            seq: 0,
        };
        if photo {
            trip.photos.push(Photo::new(
                &trip.trip_id,
                245_760,
                2000,
                1500,
                published_unix,
            ));
        }
        self.insert_trip(trip);
    }

    pub fn add_user(
        &mut self,
        username: &str,
        email: &str,
        password: &str,
        is_verified: bool,
        now: f64,
    ) -> UserIdx {
        self.users.push(User {
            user_id: uuid_v4(),
            username: username.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            is_verified,
            created_at: naive_timestamp(now),
            failed_logins: 0,
            locked_until: None,
        });
        self.users.len() - 1
    }

    /// Consecutive wrong passwords of `username` (0 for an unknown user).
    pub fn failed_logins(&self, username: &str) -> u32 {
        self.users
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.failed_logins)
            .unwrap_or(0)
    }

    pub fn username_taken(&self, username: &str) -> bool {
        self.users
            .iter()
            .any(|u| u.username.eq_ignore_ascii_case(username))
    }

    pub fn email_taken(&self, email: &str) -> bool {
        self.users
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// The account a `login` value (username or email) names.
    pub fn find_login(&self, login: &str) -> Option<UserIdx> {
        self.users.iter().position(|u| {
            u.username.eq_ignore_ascii_case(login) || u.email.eq_ignore_ascii_case(login)
        })
    }

    /// Checks a password and applies the lockout rule: the fifth consecutive wrong
    /// password locks the account for 15 minutes; while locked even the right
    /// password is refused; a right password before that resets the count. There is
    /// no decay: four failures yesterday plus one today lock the account.
    pub fn attempt_login(&mut self, user: UserIdx, password: &str, now: Instant) -> LoginOutcome {
        let Some(u) = self.users.get_mut(user) else {
            return LoginOutcome::WrongPassword;
        };
        match u.locked_until {
            Some(until) if now < until => return LoginOutcome::Locked,
            Some(_) => {
                u.locked_until = None;
                u.failed_logins = 0;
            }
            None => {}
        }
        if u.password == password {
            u.failed_logins = 0;
            return LoginOutcome::Ok;
        }
        u.failed_logins += 1;
        if u.failed_logins >= LOCKOUT_THRESHOLD {
            u.locked_until = Some(now + LOCKOUT_DURATION);
            LoginOutcome::Locked
        } else {
            LoginOutcome::WrongPassword
        }
    }

    /// A new opaque access token for `user`, valid for [`TOKEN_TTL`], and its
    /// refresh token: `(access, refresh)`.
    ///
    /// Expired sessions are dropped as new ones are issued; when the cap is
    /// reached with live sessions only, the *oldest* is forgotten. (Forgetting
    /// an arbitrary one, as this once did, logged out clients in the middle of
    /// their work — under a soak's thousands of logins a minute, a flow's token
    /// vanished between creating a trip and deleting it, and the trip stayed.)
    pub fn issue_session(&mut self, user: UserIdx, now: Instant) -> (String, String) {
        while let Some(oldest) = self.session_order.front() {
            let expired = self.sessions.get(oldest).is_none_or(|s| s.expires <= now);
            if !expired && self.sessions.len() < MAX_SESSIONS {
                break;
            }
            if let Some(token) = self.session_order.pop_front() {
                self.sessions.remove(&token);
            }
        }
        let token = random_alnum(48);
        let refresh = random_alnum(48);
        self.sessions.insert(
            token.clone(),
            Session {
                user,
                expires: now + TOKEN_TTL,
                refresh: refresh.clone(),
            },
        );
        self.session_order.push_back(token.clone());
        (token, refresh)
    }

    /// Every access and refresh token issued and not yet evicted.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.sessions
            .iter()
            .flat_map(|(access, s)| [access.clone(), s.refresh.clone()])
            .collect()
    }

    /// Sessions currently held (live or not yet dropped).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn session_user(&self, token: &str, now: Instant) -> Option<UserIdx> {
        self.sessions
            .get(token)
            .filter(|s| s.expires > now)
            .map(|s| s.user)
    }

    pub fn insert_trip(&mut self, mut trip: Trip) {
        self.next_seq += 1;
        trip.seq = self.next_seq;
        for photo in &trip.photos {
            self.photo_index
                .insert(photo.id.clone(), trip.trip_id.clone());
        }
        self.trips.insert(trip.trip_id.clone(), trip);
    }

    pub fn remove_trip(&mut self, trip_id: &str) -> Option<Trip> {
        let trip = self.trips.remove(trip_id)?;
        for photo in &trip.photos {
            self.photo_index.remove(&photo.id);
        }
        Some(trip)
    }

    /// Adds a photo to an existing trip; the caller has checked the per-trip limit.
    pub fn add_photo(&mut self, trip_id: &str, photo: Photo) {
        if let Some(trip) = self.trips.get_mut(trip_id) {
            self.photo_index
                .insert(photo.id.clone(), trip_id.to_owned());
            trip.photos.push(photo);
        }
    }

    /// Whether `path` is the URL of a stored photo or of its thumbnail.
    pub fn has_photo_url(&self, path: &str) -> bool {
        let file = path.rsplit('/').next().unwrap_or_default();
        let photo_id = file.split('_').next().unwrap_or_default();
        let indexed = self
            .photo_index
            .get(photo_id)
            .and_then(|trip_id| self.trips.get(trip_id))
            .and_then(|trip| trip.photos.iter().find(|p| p.id == photo_id))
            .is_some_and(|p| p.photo_url == path || p.thumb_url == path);
        // URLs built from a client's file name (`upload_trusts_type`) carry no id.
        indexed
            || self
                .trips
                .values()
                .flat_map(|t| &t.photos)
                .any(|p| p.photo_url == path)
    }

    /// How many trips carry a tag, as the backend's `usage_count` reports it.
    pub fn tag_usage(&self, normalized: &str) -> usize {
        self.trips
            .values()
            .filter(|t| t.tags.iter().any(|tag| tag.to_lowercase() == normalized))
            .count()
    }
}

impl Photo {
    pub fn new(trip_id: &str, file_size: usize, width: u32, height: u32, now: f64) -> Photo {
        let id = uuid_v4();
        let dir = format!("/storage/trip_photos/{}/{trip_id}", photo_month());
        Photo {
            photo_url: format!("{dir}/{id}_optimized.jpg"),
            thumb_url: format!("{dir}/{id}_thumb.jpg"),
            id,
            file_size,
            width,
            height,
            uploaded_at: format!("{}Z", naive_timestamp(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::seeded(&DemoOptions::default(), crate::builtins::unix_now())
    }

    #[test]
    fn a_full_session_table_forgets_the_oldest_session() {
        let mut s = store();
        let now = Instant::now();
        let tokens: Vec<String> = (0..MAX_SESSIONS)
            .map(|_| s.issue_session(0, now).0)
            .collect();
        assert_eq!(s.session_count(), MAX_SESSIONS);
        let newest = s.issue_session(1, now).0;
        assert_eq!(s.session_count(), MAX_SESSIONS);
        assert_eq!(s.session_user(&tokens[0], now), None, "the oldest goes");
        // Everyone else is still logged in: nobody is logged out mid-work.
        for t in &tokens[1..] {
            assert_eq!(s.session_user(t, now), Some(0));
        }
        assert_eq!(s.session_user(&newest, now), Some(1));
    }

    #[test]
    fn expired_sessions_are_dropped_as_new_ones_are_issued() {
        let mut s = store();
        let t0 = Instant::now();
        for _ in 0..100 {
            s.issue_session(0, t0);
        }
        let later = t0 + TOKEN_TTL + Duration::from_secs(1);
        let fresh = s.issue_session(0, later).0;
        assert_eq!(s.session_count(), 1);
        assert_eq!(s.session_user(&fresh, later), Some(0));
    }
}
