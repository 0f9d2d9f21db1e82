//! The kit's default [`RateLimit`], in-process: password checks (login page and password grant)
//! are throttled with a delay that grows, never a lock; what anonymous callers may create
//! (dynamic registrations, pending login pages) has a [quota](#quotas) per source.
//!
//! # Policy
//!
//! Every password check is *reserved* before the password hash is computed, and the
//! reservation is counted at once, under one lock, so parallel guesses get no more real checks
//! than the budget. A success gives its reservation back; a failure keeps it. Three budgets
//! apply, each a count of kept reservations per key:
//!
//! * **account and source** (`username` and client address together):
//!   [`Policy::per_account_source`] free checks (default 5);
//! * **source** (one IPv4 address or IPv6 /64, across all accounts, against password
//!   spraying): [`Policy::per_source`] (default 50);
//! * **account** (across all sources, against guessing from many addresses):
//!   [`Policy::per_account`] (default 100). Only a source's *free* checks of an account count
//!   here (those beyond its account-and-source budget are already slowed there), so one source
//!   can add at most 5 to it: it takes 20 or more sources to slow an account for everyone.
//!
//! Once a key has used its free checks, each further reservation must wait a delay counted from
//! the previous reservation: [`Policy::first_delay`] (1 s), doubling each time, at most
//! [`Policy::max_delay`] (15 min). A refused reservation is answered `429` with
//! `Retry-After` equal to the real remaining delay (rounded up to a second), and retrying after
//! it is not refused by the same key. A refusal is not counted, so hammering does not stretch
//! the delay; only checks that were actually made do. A key is forgotten
//! [`Policy::forget_after`] (15 min) after its last delay has passed without a new check, and a
//! correct password forgets the account's keys at once.
//!
//! What a victim sees while one source guesses their password: nothing, from any other
//! source (the attacker's failures slow only that account-and-source pair and that source); a
//! victim behind the same address (NAT) shares the attacker's delays, which are announced
//! honestly and after which a correct password works. Only attackers with 20 or more sources
//! slow the account itself, by at most [`Policy::max_delay`] per check. When the host does
//! not know the source (`source: None`), all unknown sources share one pair per account, so
//! the account-and-source budget acts per account.
//!
//! Client secrets are not throttled. The provider's secrets are 256-bit random and a fixed one
//! has at least 32 bytes, so guessing them is hopeless, while a lock keyed by the `client_id`,
//! which is public (it is in every authorization URL), would let anyone shut a client out of
//! the token, revocation and introspection endpoints with a few wrong secrets.
//!
//! # Quotas
//!
//! Two things anonymous callers make the provider hold are a quota per source (one IPv4 address
//! or IPv6 /64):
//!
//! * dynamic registrations ([`Attempt::Registration`], only while registration is open; an
//!   initial access token holder is not limited): [`Policy::registrations_per_source`], by
//!   default 20 per hour;
//! * login and consent pages ([`Attempt::PendingStep`]), each a pending step the kit holds
//!   until it expires (10 minutes by default): [`Policy::pending_steps_per_source`], by default
//!   120 per 10 minutes. The pending store has a cap and, when full, evicts the step expiring
//!   soonest; without this quota one source opening pages in a loop would evict every other
//!   user's login. With it, a source holds at most about 240 live steps (a full bucket, then
//!   its refill while the first ones live), so it takes some 80 sources to fill the default
//!   store of 20,000. A refused page is answered `429` with `Retry-After` on the kit's message
//!   page; a user sharing the flooder's address (NAT) shares its quota.
//!
//! A quota is a bucket of `limit` tokens that refills evenly, one token every `per / limit`: a
//! source may register 20 clients at once, then one every 3 minutes, and open 120 login pages
//! at once, then one every 5 seconds. A refusal is answered `429` with `Retry-After` the time
//! until the next token, rounded up to a second; it is not counted. Only what was created keeps
//! its token: a registration refused for its document, or lost to a store failure, gives it
//! back, so a mistaken client does not spend the quota. Over any long run a source gets at
//! most `limit` per `per`, and `2 × limit` in the worst single `per` (a full bucket, then its
//! refill). A quota of `limit: 0` refuses every attempt.
//!
//! A quota per source bounds what one address can do, not what many can: whoever holds many
//! addresses (an IPv6 /48 is 65,536 sources) gets a quota for each. A host opening
//! registration to the internet should prefer an initial access token.
//!
//! When the host does not know the source (`source: None`: a server that does not give the kit
//! the peer address), all unknown sources share one registration quota, so open registration
//! stays bounded; pending steps are then not limited (one quota for every unknown caller would
//! refuse everyone's login once spent), and only the pending store's cap bounds them.
//!
//! Memory is bounded: at most 100 000 password keys and 100 000 quota keys are tracked. When
//! the password keys are full (after dropping forgotten ones) new keys are not counted; when the
//! quota keys are full (after dropping those whose bucket is full again, at most once a second)
//! new sources share one quota of each kind, so spreading over more addresses than that does
//! not escape the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opkit::host::{Attempt, Outcome, RateLimit, Throttled};

/// Keys tracked at most; beyond it (after dropping forgotten ones) new keys are not counted.
const MAX_KEYS: usize = 100_000;
/// Longest username kept in a key.
const MAX_ID: usize = 256;

/// The budgets and delays of a [`Limiter`] (see the [module docs](self) for the policy).
///
/// ```
/// use std::time::Duration;
/// let policy = opkit_axum::limiter::Policy {
///     first_delay: Duration::from_millis(10),
///     ..Default::default()
/// };
/// let _limiter = opkit_axum::Limiter::with_policy(policy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Free checks per account and source.
    pub per_account_source: u32,
    /// Free checks per source, across accounts.
    pub per_source: u32,
    /// Free checks per account, across sources (only each source's free ones count).
    pub per_account: u32,
    /// The delay after the free checks, doubled for each further check.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// How long after its last delay has passed a key is forgotten.
    pub forget_after: Duration,
    /// Dynamic registrations per source while registration is open (default 20 per hour).
    pub registrations_per_source: Quota,
    /// Login and consent pages (pending steps) per source (default 120 per 10 minutes).
    pub pending_steps_per_source: Quota,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            per_account_source: 5,
            per_source: 50,
            per_account: 100,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(15 * 60),
            registrations_per_source: Quota::new(20, Duration::from_secs(60 * 60)),
            pending_steps_per_source: Quota::new(120, Duration::from_secs(10 * 60)),
        }
    }
}

/// A quota: `limit` at once, then one more every `per / limit` (a bucket of `limit` tokens
/// refilled evenly over `per`; see the [module docs](self#quotas)).
///
/// ```
/// use std::time::Duration;
/// use opkit_axum::limiter::{Policy, Quota};
/// let policy = Policy {
///     registrations_per_source: Quota::new(5, Duration::from_secs(24 * 60 * 60)),
///     ..Default::default()
/// };
/// assert_eq!(policy.registrations_per_source.limit, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// How many at once (a full bucket); `0` refuses every attempt.
    pub limit: u32,
    /// How long an empty bucket takes to fill again.
    pub per: Duration,
}

impl Quota {
    /// `limit` at once, refilled over `per`.
    pub const fn new(limit: u32, per: Duration) -> Self {
        Quota { limit, per }
    }

    /// The time one token stands for.
    fn interval(&self) -> Duration {
        self.per / self.limit.max(1)
    }
}

impl Policy {
    /// The delay after `over` checks beyond the free ones (`over` ≥ 1).
    fn delay(&self, over: u32) -> Duration {
        let doublings = over.saturating_sub(1).min(32);
        self.first_delay
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_delay)
    }
}

/// Password check budgets and quotas per source (the kit installs one unless the host gives its
/// own).
///
/// ```
/// use opkit::host::{Attempt, Outcome, RateLimit};
/// let limiter = opkit_axum::Limiter::default();
/// let alice = Attempt::Password { username: "alice", source: None };
/// for _ in 0..5 {
///     limiter.reserve(&alice).unwrap();
///     limiter.settle(&alice, Outcome::Failed);
/// }
/// let refused = limiter.reserve(&alice).unwrap_err();
/// assert_eq!(refused.retry_after_secs(), 1);
/// ```
pub struct Limiter {
    policy: Policy,
    keys: Mutex<HashMap<Key, Budget>>,
    quotas: Mutex<Quotas>,
}

/// The quota keys, and when a full table may next be swept of forgotten keys (at most once a
/// second, so that a flood of new sources does not make every request scan the table).
#[derive(Debug, Default)]
struct Quotas {
    debts: HashMap<QuotaKey, Debt>,
    next_sweep: Option<Instant>,
}

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum QuotaKind {
    Registration,
    PendingStep,
}

/// Whose quota: one source's, or the one shared by unknown sources (and by new sources once
/// [`MAX_KEYS`] are tracked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    Source(Source),
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct QuotaKey(QuotaKind, Holder);

/// How much of a quota's `per` is spent (each token held is `per / limit` of it), as of `at`;
/// it drains with time.
#[derive(Debug, Clone, Copy)]
struct Debt {
    owed: Duration,
    at: Instant,
}

impl Debt {
    /// What is still owed at `now`; zero means the bucket is full (the key can be forgotten).
    fn owed(&self, now: Instant) -> Duration {
        self.owed
            .saturating_sub(now.saturating_duration_since(self.at))
    }
}

/// What a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    AccountSource(Box<str>, Option<Source>),
    Source(Source),
    Account(Box<str>),
}

/// A client address: IPv4 as is, IPv6 by its /64 (one site's block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(u32::from(v4)),
                None => Source::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// One key's kept reservations and when the next may be made.
#[derive(Debug, Clone, Copy)]
struct Budget {
    used: u32,
    /// No reservation before this.
    next_at: Instant,
}

impl Budget {
    fn forgotten(&self, policy: &Policy, now: Instant) -> bool {
        now >= self.next_at + policy.forget_after
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy)
            .field("tracked", &self.lock().len())
            .field("quotas", &self.lock_quotas().debts.len())
            .finish()
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::with_policy(Policy::default())
    }
}

/// The (cut) username and source of a password attempt; `None` for what is not throttled.
fn password(attempt: &Attempt<'_>) -> Option<(Box<str>, Option<Source>)> {
    let Attempt::Password { username, source } = attempt else {
        // Client secrets: not throttled, see the module docs; quotas: see `quota_of`.
        return None;
    };
    let end = (0..=username.len().min(MAX_ID))
        .rev()
        .find(|i| username.is_char_boundary(*i))
        .unwrap_or(0);
    Some((username[..end].into(), source.map(Source::from)))
}

impl Limiter {
    /// A limiter with these budgets and delays.
    pub fn with_policy(policy: Policy) -> Self {
        Limiter {
            policy,
            keys: Mutex::new(HashMap::new()),
            quotas: Mutex::new(Quotas::default()),
        }
    }

    /// The budgets and delays in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Budget>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_quotas(&self) -> MutexGuard<'_, Quotas> {
        self.quotas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The quota an attempt counts against and its key (before the [`MAX_KEYS`] fallback);
    /// `None` for what has no quota.
    fn quota_of(&self, attempt: &Attempt<'_>) -> Option<(Quota, QuotaKey)> {
        let (kind, source, quota) = match attempt {
            Attempt::Registration { source } => (
                QuotaKind::Registration,
                source,
                self.policy.registrations_per_source,
            ),
            Attempt::PendingStep { source } => (
                QuotaKind::PendingStep,
                source,
                self.policy.pending_steps_per_source,
            ),
            _ => return None,
        };
        let holder = match (source, kind) {
            (Some(ip), _) => Holder::Source(Source::from(*ip)),
            // Every user's login would share it: not limited (see the module docs).
            (None, QuotaKind::PendingStep) => return None,
            (None, QuotaKind::Registration) => Holder::Shared,
        };
        Some((quota, QuotaKey(kind, holder)))
    }

    fn reserve_quota(&self, quota: Quota, key: QuotaKey, now: Instant) -> Result<(), Throttled> {
        if quota.limit == 0 {
            return Err(Throttled {
                retry_after: quota.per,
            });
        }
        let mut guard = self.lock_quotas();
        let table = &mut *guard;
        let mut key = key;
        if !table.debts.contains_key(&key) && table.debts.len() >= MAX_KEYS {
            if table.next_sweep.is_none_or(|at| now >= at) {
                table.debts.retain(|_, d| !d.owed(now).is_zero());
                table.next_sweep = now.checked_add(Duration::from_secs(1));
            }
            if table.debts.len() >= MAX_KEYS {
                key = QuotaKey(key.0, Holder::Shared);
            }
        }
        let quotas = &mut table.debts;
        let owed = quotas.get(&key).map_or(Duration::ZERO, |d| d.owed(now));
        let after = owed.saturating_add(quota.interval());
        if after > quota.per {
            // The next token is back when `after - per` has drained.
            return Err(Throttled {
                retry_after: after - quota.per,
            });
        }
        quotas.insert(
            key,
            Debt {
                owed: after,
                at: now,
            },
        );
        Ok(())
    }

    /// Give a quota's token back (nothing was created).
    fn give_back_quota(&self, quota: Quota, key: QuotaKey, now: Instant) {
        let mut guard = self.lock_quotas();
        let quotas = &mut guard.debts;
        // A new source counted in the shared quota (all keys were taken) gives back there.
        let key = match quotas.contains_key(&key) {
            true => key,
            false => QuotaKey(key.0, Holder::Shared),
        };
        if let Some(debt) = quotas.get_mut(&key) {
            let owed = debt.owed(now).saturating_sub(quota.interval());
            if owed.is_zero() {
                quotas.remove(&key);
            } else {
                *debt = Debt { owed, at: now };
            }
        }
    }

    /// Drop forgotten keys.
    pub fn purge(&self) {
        self.purge_at(Instant::now());
    }

    fn purge_at(&self, now: Instant) {
        let mut keys = self.lock();
        keys.retain(|_, b| !b.forgotten(&self.policy, now));
        if keys.capacity() > 4 * keys.len().max(64) {
            keys.shrink_to_fit();
        }
        drop(keys);
        let mut guard = self.lock_quotas();
        let quotas = &mut guard.debts;
        quotas.retain(|_, d| !d.owed(now).is_zero());
        if quotas.capacity() > 4 * quotas.len().max(64) {
            quotas.shrink_to_fit();
        }
    }

    /// The keys an attempt counts against, each with its free checks; the account key only
    /// while the account-and-source pair is within its free checks.
    fn keys_of(
        &self,
        keys: &HashMap<Key, Budget>,
        user: Box<str>,
        source: Option<Source>,
        now: Instant,
    ) -> Vec<(Key, u32)> {
        let p = &self.policy;
        let pair = Key::AccountSource(user.clone(), source);
        let pair_used = keys
            .get(&pair)
            .filter(|b| !b.forgotten(p, now))
            .map_or(0, |b| b.used);
        let mut out = vec![(pair, p.per_account_source)];
        if let Some(source) = source {
            out.push((Key::Source(source), p.per_source));
        }
        if pair_used < p.per_account_source {
            out.push((Key::Account(user), p.per_account));
        }
        out
    }

    fn reserve_at(&self, attempt: &Attempt<'_>, now: Instant) -> Result<(), Throttled> {
        if let Some((quota, key)) = self.quota_of(attempt) {
            return self.reserve_quota(quota, key, now);
        }
        let Some((user, source)) = password(attempt) else {
            return Ok(());
        };
        let p = self.policy;
        let mut keys = self.lock();
        let wanted = self.keys_of(&keys, user, source, now);
        // Decide for every key first, then count in all of them: one lock, so atomic.
        let mut wait = Duration::ZERO;
        for (key, free) in &wanted {
            // A key within its free checks never makes anyone wait. (Its `next_at` is when it
            // was made; a thread that read the clock just before another made it would
            // otherwise see a wait of a few nanoseconds, announced as `Retry-After: 1`.)
            let delayed = |b: &&Budget| b.used >= *free && !b.forgotten(&p, now);
            if let Some(b) = keys.get(key).filter(delayed) {
                wait = wait.max(b.next_at.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(Throttled { retry_after: wait });
        }
        let new = wanted.iter().filter(|(k, _)| !keys.contains_key(k)).count();
        if keys.len() + new > MAX_KEYS {
            keys.retain(|_, b| !b.forgotten(&p, now));
        }
        for (key, free) in wanted {
            if !keys.contains_key(&key) && keys.len() >= MAX_KEYS {
                continue;
            }
            let budget = keys.entry(key).or_insert(Budget {
                used: 0,
                next_at: now,
            });
            if budget.forgotten(&p, now) {
                *budget = Budget {
                    used: 0,
                    next_at: now,
                };
            }
            budget.used = budget.used.saturating_add(1);
            if budget.used >= free {
                budget.next_at = now + p.delay(budget.used - free + 1);
            }
        }
        Ok(())
    }

    fn settle_at(&self, attempt: &Attempt<'_>, outcome: Outcome, now: Instant) {
        if let Some((quota, key)) = self.quota_of(attempt) {
            // What was created keeps its token; anything else gives it back.
            if outcome != Outcome::Succeeded {
                self.give_back_quota(quota, key, now);
            }
            return;
        }
        let Some((user, source)) = password(attempt) else {
            return;
        };
        let mut keys = self.lock();
        match outcome {
            // The reservation stays counted.
            Outcome::Failed => {}
            // Whoever knows the password may reset the account's budgets; the source's is
            // only given back this check (so an attacker's own logins cannot reset it).
            Outcome::Succeeded => {
                keys.remove(&Key::AccountSource(user.clone(), source));
                keys.remove(&Key::Account(user));
                if let Some(source) = source {
                    give_back(&mut keys, Key::Source(source), &self.policy, now);
                }
            }
            Outcome::NotChecked => {
                let pair = Key::AccountSource(user.clone(), source);
                give_back(&mut keys, pair.clone(), &self.policy, now);
                // The account key was counted too if the pair was still within its free checks.
                let pair_used = keys.get(&pair).map_or(0, |b| b.used);
                if pair_used < self.policy.per_account_source {
                    give_back(&mut keys, Key::Account(user), &self.policy, now);
                }
                if let Some(source) = source {
                    give_back(&mut keys, Key::Source(source), &self.policy, now);
                }
            }
        }
    }
}

/// Un-count one reservation of `key`; an idle key with nothing counted is dropped.
fn give_back(keys: &mut HashMap<Key, Budget>, key: Key, policy: &Policy, now: Instant) {
    if let Some(b) = keys.get_mut(&key) {
        b.used = b.used.saturating_sub(1);
        if b.used == 0 && (now >= b.next_at || b.forgotten(policy, now)) {
            keys.remove(&key);
        }
    }
}

impl RateLimit for Limiter {
    fn reserve(&self, attempt: &Attempt<'_>) -> Result<(), Throttled> {
        self.reserve_at(attempt, Instant::now())
    }

    fn settle(&self, attempt: &Attempt<'_>, outcome: Outcome) {
        self.settle_at(attempt, outcome, Instant::now());
    }
}

#[cfg(test)]
mod tests;
