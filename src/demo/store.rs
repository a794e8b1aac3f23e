//! In-memory data of the demo backend: users, sessions, trips and photo metadata,
//! plus the account-lockout rule (no decay, not even when a lock expires) and
//! the demo's per-account count of the login attempts it received. Everything
//! here is synchronous and is only ever touched under the state's mutex, never
//! across an `.await`.
//!
//! Memory is bounded: users, trips and sessions have caps, photos are capped per
//! trip and only their metadata is kept (the bytes served from `/storage` are one
//! shared generated JPEG).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::builtins::{random_alnum, rfc3339_utc, today_utc, uuid_v4};

use super::DemoOptions;

/// Access tokens live 15 minutes, like the real backend's (`expires_in: 900`),
/// unless the `token-ttl` fault says otherwise when they are issued.
pub(super) const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Consecutive wrong passwords that lock an account.
pub(super) const LOCKOUT_THRESHOLD: u32 = 5;
/// How long a locked account stays locked, by default
/// ([`DemoOptions::lockout_duration`](super::DemoOptions::lockout_duration)).
pub(super) const LOCKOUT_DURATION: Duration = Duration::from_secs(15 * 60);
pub(super) const MAX_PHOTOS_PER_TRIP: usize = 6;
pub(super) const MAX_USERS: usize = 10_000;
pub(super) const MAX_TRIPS: usize = 2_000;
/// Distinct tags kept (a tag outlives its trips, so this is what bounds them).
pub(super) const MAX_TAG_NAMES: usize = 10_000;
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
    /// Consecutive wrong passwords: the lockout counter. Only a right password
    /// (outside a lock) resets it; a lock's expiry does not.
    failed_logins: u32,
    locked_until: Option<Instant>,
    /// Every `POST /auth/login` naming this account, whatever its answer.
    login_attempts: u32,
    /// Every one of those that carried a wrong password (locked or not).
    wrong_password_attempts: u32,
}

/// What the demo observed of one account's logins (see [`Store::account`]).
pub(super) struct AccountStats {
    pub login_attempts: u32,
    pub wrong_password_attempts: u32,
    pub failed_logins: u32,
    pub locked: bool,
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
    /// Unix time of creation: the order of a user's trip list (newest first).
    pub created_unix: f64,
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

/// A row of the backend's tag table: created by the first trip that uses the
/// tag, counted up by every trip created with it, and — the real backend's
/// bug — never counted down, not even when its trips are deleted.
pub(super) struct Tag {
    /// As the first trip spelt it.
    pub name: String,
    pub usage_count: u64,
    pub created_at: String,
}

/// A tag as the backend compares it: trimmed and lower-cased.
pub(super) fn normalize_tag(name: &str) -> String {
    name.trim().to_lowercase()
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
    /// Tokens by (expiry, issue number): the first is the one to forget first.
    /// Ordered by expiry rather than by issue because the `token-ttl` fault
    /// gives tokens issued later a shorter life than older ones.
    expiry_order: BTreeMap<(Instant, u64), String>,
    next_session: u64,
    pub trips: HashMap<String, Trip>,
    /// photo id → trip id, so `/storage` lookups need not scan every trip.
    photo_index: HashMap<String, String>,
    /// Every tag ever used, by normalized name (see [`Tag`]).
    pub tags: BTreeMap<String, Tag>,
    next_seq: u64,
    /// How long the fifth consecutive wrong password locks an account.
    lockout_duration: Duration,
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
            expiry_order: BTreeMap::new(),
            next_session: 0,
            trips: HashMap::new(),
            photo_index: HashMap::new(),
            tags: BTreeMap::new(),
            next_seq: 0,
            lockout_duration: opts.lockout_duration,
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
            created_unix: published_unix,
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
            login_attempts: 0,
            wrong_password_attempts: 0,
        });
        self.users.len() - 1
    }

    /// The account whose username is exactly `username`.
    pub fn user_named(&self, username: &str) -> Option<UserIdx> {
        self.users.iter().position(|u| u.username == username)
    }

    /// Consecutive wrong passwords of `username` (0 for an unknown user).
    pub fn failed_logins(&self, username: &str) -> u32 {
        self.account(username).map_or(0, |a| a.failed_logins)
    }

    /// The login counters of `username`, `None` for an unknown user.
    pub fn account(&self, username: &str) -> Option<AccountStats> {
        self.user_named(username)
            .map(|user| self.account_stats(user, Instant::now()))
    }

    /// The login counters of `user`; `locked` as of `now`.
    pub fn account_stats(&self, user: UserIdx, now: Instant) -> AccountStats {
        self.users.get(user).map_or(
            AccountStats {
                login_attempts: 0,
                wrong_password_attempts: 0,
                failed_logins: 0,
                locked: false,
            },
            |u| AccountStats {
                login_attempts: u.login_attempts,
                wrong_password_attempts: u.wrong_password_attempts,
                failed_logins: u.failed_logins,
                locked: u.locked_until.is_some_and(|until| now < until),
            },
        )
    }

    /// Counts one `POST /auth/login` naming `user` (and, if `password` is
    /// given and is not the account's, one wrong password), whatever it will
    /// be answered: locked, database down, an injected error. Observation
    /// only: the lockout rule is [`attempt_login`](Self::attempt_login)'s.
    pub fn note_login_attempt(&mut self, user: UserIdx, password: Option<&str>) {
        if let Some(u) = self.users.get_mut(user) {
            u.login_attempts = u.login_attempts.saturating_add(1);
            if password.is_some_and(|p| p != u.password) {
                u.wrong_password_attempts = u.wrong_password_attempts.saturating_add(1);
            }
        }
    }

    /// Locks `user` as the fifth consecutive wrong password would: the
    /// consecutive count is at the threshold and the lock lasts the lockout
    /// duration from `now`. The request counters are not touched.
    pub fn lock(&mut self, user: UserIdx, now: Instant) {
        let duration = self.lockout_duration;
        if let Some(u) = self.users.get_mut(user) {
            u.failed_logins = u.failed_logins.max(LOCKOUT_THRESHOLD);
            u.locked_until = Some(now + duration);
        }
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
    /// password locks the account for the lockout duration (15 minutes by
    /// default); while locked every attempt is refused, the right password too,
    /// and not counted. There is no decay, not even when a lock expires: the
    /// count stays at the threshold, so the next wrong password locks the
    /// account again at once. Only a right password outside a lock resets it.
    pub fn attempt_login(&mut self, user: UserIdx, password: &str, now: Instant) -> LoginOutcome {
        let lockout_duration = self.lockout_duration;
        let Some(u) = self.users.get_mut(user) else {
            return LoginOutcome::WrongPassword;
        };
        match u.locked_until {
            Some(until) if now < until => return LoginOutcome::Locked,
            Some(_) => u.locked_until = None,
            None => {}
        }
        if u.password == password {
            u.failed_logins = 0;
            return LoginOutcome::Ok;
        }
        u.failed_logins = u.failed_logins.saturating_add(1);
        if u.failed_logins >= LOCKOUT_THRESHOLD {
            u.locked_until = Some(now + lockout_duration);
            LoginOutcome::Locked
        } else {
            LoginOutcome::WrongPassword
        }
    }

    /// A new opaque access token for `user`, valid for `ttl` ([`TOKEN_TTL`]
    /// unless the `token-ttl` fault is on), and its refresh token:
    /// `(access, refresh)`.
    ///
    /// Expired sessions are dropped as new ones are issued; when the cap is
    /// reached with live sessions only, the one closest to expiry — with one
    /// TTL for all, the *oldest* — is forgotten. (Forgetting an arbitrary one,
    /// as this once did, logged out clients in the middle of their work — under
    /// a soak's thousands of logins a minute, a flow's token vanished between
    /// creating a trip and deleting it, and the trip stayed.)
    pub fn issue_session(
        &mut self,
        user: UserIdx,
        now: Instant,
        ttl: Duration,
    ) -> (String, String) {
        while let Some(entry) = self.expiry_order.first_entry() {
            let expired = entry.key().0 <= now;
            if !expired && self.sessions.len() < MAX_SESSIONS {
                break;
            }
            let token = entry.remove();
            self.sessions.remove(&token);
        }
        let token = random_alnum(48);
        let refresh = random_alnum(48);
        let expires = now + ttl;
        self.next_session += 1;
        self.sessions.insert(
            token.clone(),
            Session {
                user,
                expires,
                refresh: refresh.clone(),
            },
        );
        self.expiry_order
            .insert((expires, self.next_session), token.clone());
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

    /// How many of `tags` the tag table does not hold yet.
    pub fn new_tags(&self, tags: &[String]) -> usize {
        tags.iter()
            .filter(|t| !self.tags.contains_key(&normalize_tag(t)))
            .count()
    }

    /// Stores a trip and counts its tags up (a new tag gets a row). The
    /// caller has checked [`MAX_TAG_NAMES`] with [`new_tags`](Self::new_tags).
    pub fn insert_trip(&mut self, mut trip: Trip) {
        for name in &trip.tags {
            let tag = self.tags.entry(normalize_tag(name)).or_insert_with(|| Tag {
                name: name.clone(),
                usage_count: 0,
                created_at: trip.created_at.clone(),
            });
            tag.usage_count += 1;
        }
        self.next_seq += 1;
        trip.seq = self.next_seq;
        for photo in &trip.photos {
            self.photo_index
                .insert(photo.id.clone(), trip.trip_id.clone());
        }
        self.trips.insert(trip.trip_id.clone(), trip);
    }

    /// Removes a trip and its photos. Its tags keep their `usage_count`, as
    /// on the real backend (the count is never decremented).
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

    /// A tag's `usage_count`: every trip ever created with it, deleted ones
    /// included (0 for a tag the table does not hold).
    pub fn tag_usage(&self, name: &str) -> u64 {
        self.tags
            .get(&normalize_tag(name))
            .map_or(0, |t| t.usage_count)
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
            .map(|_| s.issue_session(0, now, TOKEN_TTL).0)
            .collect();
        assert_eq!(s.session_count(), MAX_SESSIONS);
        let newest = s.issue_session(1, now, TOKEN_TTL).0;
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
            s.issue_session(0, t0, TOKEN_TTL);
        }
        let later = t0 + TOKEN_TTL + Duration::from_secs(1);
        let fresh = s.issue_session(0, later, TOKEN_TTL).0;
        assert_eq!(s.session_count(), 1);
        assert_eq!(s.session_user(&fresh, later), Some(0));
    }

    #[test]
    fn a_short_lived_session_behind_long_lived_ones_is_dropped_when_it_expires() {
        let mut s = store();
        let t0 = Instant::now();
        let long = s.issue_session(0, t0, TOKEN_TTL).0;
        let short = s.issue_session(0, t0, Duration::from_secs(1)).0;
        let later = t0 + Duration::from_secs(2);
        assert_eq!(s.session_user(&short, later), None, "expired");
        let fresh = s.issue_session(0, later, TOKEN_TTL).0;
        assert_eq!(s.session_count(), 2, "the expired one is gone");
        assert_eq!(s.session_user(&long, later), Some(0));
        assert_eq!(s.session_user(&fresh, later), Some(0));
    }

    fn wrong(s: &mut Store, now: Instant) -> LoginOutcome {
        s.attempt_login(0, "Wrong-Passw0rd!", now)
    }

    fn right(s: &mut Store, now: Instant) -> LoginOutcome {
        s.attempt_login(0, &DemoOptions::default().password, now)
    }

    #[test]
    fn an_expired_lock_leaves_the_count_at_the_threshold() {
        let mut s = store();
        let t0 = Instant::now();
        for _ in 1..LOCKOUT_THRESHOLD {
            assert!(matches!(wrong(&mut s, t0), LoginOutcome::WrongPassword));
        }
        assert!(matches!(wrong(&mut s, t0), LoginOutcome::Locked));
        assert!(matches!(right(&mut s, t0), LoginOutcome::Locked));
        let user = &s.users[0].username.clone();
        assert_eq!(s.failed_logins(user), LOCKOUT_THRESHOLD);

        // No decay: once the lock is over, one more wrong password locks again…
        let after = t0 + LOCKOUT_DURATION;
        assert!(matches!(wrong(&mut s, after), LoginOutcome::Locked));
        assert!(matches!(right(&mut s, after), LoginOutcome::Locked));
        // …and a right one outside a lock succeeds and resets the count.
        let after = after + LOCKOUT_DURATION;
        assert!(matches!(right(&mut s, after), LoginOutcome::Ok));
        assert_eq!(s.failed_logins(user), 0);
        assert!(matches!(wrong(&mut s, after), LoginOutcome::WrongPassword));
    }

    #[test]
    fn lock_acts_like_five_wrong_passwords_without_counting_requests() {
        let mut s = store();
        let t0 = Instant::now();
        s.lock(0, t0);
        assert!(matches!(right(&mut s, t0), LoginOutcome::Locked));
        let stats = s.account_stats(0, t0);
        assert_eq!(
            (stats.failed_logins, stats.locked, stats.login_attempts),
            (LOCKOUT_THRESHOLD, true, 0)
        );
        assert!(!s.account_stats(0, t0 + LOCKOUT_DURATION).locked);
        assert!(matches!(
            wrong(&mut s, t0 + LOCKOUT_DURATION),
            LoginOutcome::Locked
        ));
    }
}
