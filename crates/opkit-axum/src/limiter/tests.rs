use super::*;

fn alice(source: Option<&str>) -> Attempt<'static> {
    Attempt::Password {
        username: "alice",
        source: source.and_then(|s| s.parse().ok()),
    }
}

const A: Option<&str> = Some("192.0.2.1");
const B: Option<&str> = Some("198.51.100.2");

/// Reserve and fail at `now`.
fn fail(l: &Limiter, attempt: &Attempt<'_>, now: Instant) -> Result<(), Throttled> {
    l.reserve_at(attempt, now)?;
    l.settle_at(attempt, Outcome::Failed, now);
    Ok(())
}

#[test]
fn delays_double_and_retry_after_is_honest() {
    let l = Limiter::default();
    let t0 = Instant::now();
    for _ in 0..5 {
        fail(&l, &alice(A), t0).unwrap();
    }
    let mut t = t0;
    for expected in [1, 2, 4, 8, 16] {
        let refused = l.reserve_at(&alice(A), t).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(expected));
        // Hammering before the delay has passed is refused and does not stretch it.
        for ms in [1, 500, 999] {
            let again = l.reserve_at(&alice(A), t + Duration::from_millis(ms * expected));
            assert!(again.is_err());
        }
        // Waiting exactly Retry-After lets the next check through.
        t += refused.retry_after;
        fail(&l, &alice(A), t).unwrap();
    }
}

#[test]
fn the_delay_is_capped() {
    let l = Limiter::default();
    let mut t = Instant::now();
    for _ in 0..40 {
        match fail(&l, &alice(A), t) {
            Ok(()) => {}
            Err(refused) => {
                assert!(refused.retry_after <= Duration::from_secs(15 * 60));
                t += refused.retry_after;
                fail(&l, &alice(A), t).unwrap();
            }
        }
    }
    let refused = l.reserve_at(&alice(A), t).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(15 * 60));
}

#[test]
fn the_right_password_after_the_delay_always_works_and_resets() {
    let l = Limiter::default();
    let t0 = Instant::now();
    for _ in 0..5 {
        fail(&l, &alice(A), t0).unwrap();
    }
    let wait = l.reserve_at(&alice(A), t0).unwrap_err().retry_after;
    let t1 = t0 + wait;
    l.reserve_at(&alice(A), t1).unwrap();
    l.settle_at(&alice(A), Outcome::Succeeded, t1);
    for _ in 0..5 {
        fail(&l, &alice(A), t1).unwrap();
    }
}

#[test]
fn another_source_is_not_slowed_by_an_attacker() {
    let l = Limiter::default();
    let mut t = Instant::now();
    // An attacker at A keeps guessing for hours, always waiting out the delay.
    for _ in 0..60 {
        if let Err(refused) = fail(&l, &alice(A), t) {
            t += refused.retry_after;
            fail(&l, &alice(A), t).unwrap();
        }
    }
    assert!(l.reserve_at(&alice(A), t).is_err());
    // The victim at B checks at once, with the right password.
    l.reserve_at(&alice(B), t).unwrap();
    l.settle_at(&alice(B), Outcome::Succeeded, t);
    // Without a known source all share one budget per account.
    for _ in 0..5 {
        fail(&l, &alice(None), t).unwrap();
    }
    assert!(l.reserve_at(&alice(None), t).is_err());
}

#[test]
fn many_sources_slow_the_account() {
    let l = Limiter::default();
    let t = Instant::now();
    // 20 sources × 5 free checks = the account's 100.
    for i in 0..20u8 {
        let ip = format!("203.0.113.{i}");
        for _ in 0..5 {
            fail(&l, &alice(Some(&ip)), t).unwrap();
        }
    }
    let refused = l.reserve_at(&alice(B), t).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    fail(&l, &alice(B), t + refused.retry_after).unwrap();
}

#[test]
fn one_source_spraying_accounts_is_slowed() {
    let l = Limiter::default();
    let t = Instant::now();
    let names: Vec<String> = (0..51).map(|i| format!("user{i}")).collect();
    let source = A.and_then(|s| s.parse().ok());
    for name in &names[..50] {
        let attempt = Attempt::Password {
            username: name,
            source,
        };
        fail(&l, &attempt, t).unwrap();
    }
    let next = Attempt::Password {
        username: &names[50],
        source,
    };
    assert!(l.reserve_at(&next, t).is_err());
    // Another source is not affected, and the sprayer's own success does not reset its source.
    l.reserve_at(&alice(B), t).unwrap();
    l.settle_at(&alice(B), Outcome::Succeeded, t);
    let later = t + Duration::from_secs(1);
    l.reserve_at(&alice(A), later).unwrap();
    l.settle_at(&alice(A), Outcome::Succeeded, later);
    assert!(l.reserve_at(&next, later).is_err());
}

#[test]
fn ipv6_sources_count_per_64() {
    let l = Limiter::default();
    let t = Instant::now();
    for i in 0..5 {
        let ip = format!("2001:db8::{i}");
        fail(&l, &alice(Some(&ip)), t).unwrap();
    }
    assert!(l.reserve_at(&alice(Some("2001:db8::ffff")), t).is_err());
    l.reserve_at(&alice(Some("2001:db8:0:1::1")), t).unwrap();
}

#[test]
fn parallel_reservations_never_exceed_the_budget() {
    let l = Limiter::default();
    let barrier = std::sync::Barrier::new(60);
    let granted = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..60 {
            s.spawn(|| {
                barrier.wait();
                if l.reserve(&alice(A)).is_ok() {
                    granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                    l.settle(&alice(A), Outcome::Failed);
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 5);
}

#[test]
fn unchecked_attempts_are_given_back_and_keys_forgotten() {
    let l = Limiter::default();
    let t = Instant::now();
    for _ in 0..10 {
        l.reserve_at(&alice(A), t).unwrap();
        l.settle_at(&alice(A), Outcome::NotChecked, t);
    }
    assert!(l.lock().is_empty());
    for _ in 0..5 {
        fail(&l, &alice(A), t).unwrap();
    }
    assert!(l.reserve_at(&alice(A), t).is_err());
    let later = t + Duration::from_secs(1) + l.policy().forget_after;
    l.purge_at(later);
    assert!(l.lock().is_empty());
    for _ in 0..5 {
        fail(&l, &alice(A), later).unwrap();
    }
}

#[test]
fn client_secrets_are_never_refused() {
    let l = Limiter::default();
    let client = Attempt::ClientSecret { client_id: "alice" };
    for _ in 0..1000 {
        l.reserve(&client).unwrap();
        l.settle(&client, Outcome::Failed);
    }
    assert!(l.lock().is_empty());
}

#[test]
fn long_identifiers_share_a_cut_key() {
    let l = Limiter::default();
    let t = Instant::now();
    let long = "é".repeat(MAX_ID);
    let longer = format!("{long}x");
    for _ in 0..5 {
        let attempt = Attempt::Password {
            username: &long,
            source: None,
        };
        fail(&l, &attempt, t).unwrap();
    }
    let attempt = Attempt::Password {
        username: &longer,
        source: None,
    };
    assert!(l.reserve_at(&attempt, t).is_err());
}

fn registration(source: Option<&str>) -> Attempt<'static> {
    Attempt::Registration {
        source: source.and_then(|s| s.parse().ok()),
    }
}

/// Reserve and settle `outcome` at `now`.
fn attempt(l: &Limiter, a: &Attempt<'_>, outcome: Outcome, now: Instant) -> Result<(), Throttled> {
    l.reserve_at(a, now)?;
    l.settle_at(a, outcome, now);
    Ok(())
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn registrations_are_a_quota_per_source_with_an_honest_retry_after() {
    let l = Limiter::default();
    let t0 = Instant::now();
    for _ in 0..20 {
        attempt(&l, &registration(A), Outcome::Succeeded, t0).unwrap();
    }
    // The 21st waits for the next token: 1 h / 20.
    let refused = l.reserve_at(&registration(A), t0).unwrap_err();
    assert_eq!(refused.retry_after, 3 * MINUTE);
    // Hammering is refused, not counted: the wait only shrinks.
    let later = t0 + MINUTE;
    assert_eq!(
        l.reserve_at(&registration(A), later)
            .unwrap_err()
            .retry_after,
        2 * MINUTE
    );
    // After exactly Retry-After one more, then a full interval again.
    let t1 = t0 + refused.retry_after;
    attempt(&l, &registration(A), Outcome::Succeeded, t1).unwrap();
    assert_eq!(
        l.reserve_at(&registration(A), t1).unwrap_err().retry_after,
        3 * MINUTE
    );
    // Another source, and another IPv6 /64, are not affected; a /64 is one source.
    attempt(&l, &registration(B), Outcome::Succeeded, t1).unwrap();
    for i in 0..20 {
        let ip = format!("2001:db8::{i}");
        attempt(&l, &registration(Some(&ip)), Outcome::Succeeded, t1).unwrap();
    }
    assert!(l
        .reserve_at(&registration(Some("2001:db8::ffff")), t1)
        .is_err());
    l.reserve_at(&registration(Some("2001:db8:0:1::1")), t1)
        .unwrap();
    // An hour after the last one the bucket is full and the source forgotten.
    l.purge_at(t1 + Duration::from_secs(3600));
    assert!(l.lock_quotas().debts.is_empty());
}

#[test]
fn only_registrations_that_created_a_client_keep_their_token() {
    let l = Limiter::default();
    let t = Instant::now();
    for _ in 0..100 {
        attempt(&l, &registration(A), Outcome::Failed, t).unwrap();
        attempt(&l, &registration(A), Outcome::NotChecked, t).unwrap();
    }
    assert!(l.lock_quotas().debts.is_empty());
    for _ in 0..20 {
        attempt(&l, &registration(A), Outcome::Succeeded, t).unwrap();
    }
    assert!(l.reserve_at(&registration(A), t).is_err());
}

#[test]
fn unknown_sources_share_one_registration_quota() {
    let l = Limiter::default();
    let t = Instant::now();
    for _ in 0..20 {
        attempt(&l, &registration(None), Outcome::Succeeded, t).unwrap();
    }
    assert!(l.reserve_at(&registration(None), t).is_err());
    l.reserve_at(&registration(A), t).unwrap();
}

#[test]
fn a_quota_can_be_tuned_or_closed() {
    let policy = Policy {
        registrations_per_source: Quota::new(2, Duration::from_secs(10)),
        ..Policy::default()
    };
    let l = Limiter::with_policy(policy);
    let t = Instant::now();
    attempt(&l, &registration(A), Outcome::Succeeded, t).unwrap();
    attempt(&l, &registration(A), Outcome::Succeeded, t).unwrap();
    let refused = l.reserve_at(&registration(A), t).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(5));
    let closed = Limiter::with_policy(Policy {
        registrations_per_source: Quota::new(0, MINUTE),
        ..Policy::default()
    });
    assert_eq!(
        closed.reserve(&registration(A)).unwrap_err().retry_after,
        MINUTE
    );
}

#[test]
fn parallel_registrations_never_exceed_the_quota() {
    let l = Limiter::default();
    let barrier = std::sync::Barrier::new(60);
    let granted = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..60 {
            s.spawn(|| {
                barrier.wait();
                if l.reserve(&registration(A)).is_ok() {
                    granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    l.settle(&registration(A), Outcome::Succeeded);
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 20);
}

#[test]
fn sources_beyond_the_tracked_ones_share_a_quota() {
    let l = Limiter::with_policy(Policy {
        registrations_per_source: Quota::new(1, Duration::from_secs(3600)),
        ..Policy::default()
    });
    let t = Instant::now();
    for i in 0..MAX_KEYS as u32 {
        let source = Some(IpAddr::from(std::net::Ipv4Addr::from(i)));
        let a = Attempt::Registration { source };
        attempt(&l, &a, Outcome::Succeeded, t).unwrap();
    }
    // Every key is live: a new source is counted in the shared quota, which then is spent.
    let new = |i: u32| Attempt::Registration {
        source: Some(IpAddr::from(std::net::Ipv4Addr::from(u32::MAX - i))),
    };
    attempt(&l, &new(0), Outcome::Succeeded, t).unwrap();
    assert!(l.reserve_at(&new(1), t).is_err());
    assert_eq!(l.lock_quotas().debts.len(), MAX_KEYS + 1);
    // Once the tracked ones are forgotten, a new source gets its own quota again.
    let later = t + Duration::from_secs(3600);
    attempt(&l, &new(1), Outcome::Succeeded, later).unwrap();
    assert_eq!(l.lock_quotas().debts.len(), 1);
}

fn page(source: Option<&str>) -> Attempt<'static> {
    Attempt::PendingStep {
        source: source.and_then(|s| s.parse().ok()),
    }
}

#[test]
fn pending_steps_are_a_quota_per_source() {
    let l = Limiter::default();
    let t = Instant::now();
    for _ in 0..120 {
        attempt(&l, &page(A), Outcome::Succeeded, t).unwrap();
    }
    // Then one every 10 min / 120 = 5 s.
    let refused = l.reserve_at(&page(A), t).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(5));
    attempt(&l, &page(A), Outcome::Succeeded, t + refused.retry_after).unwrap();
    // Another source, and the registration quota of the same source, are their own.
    attempt(&l, &page(B), Outcome::Succeeded, t).unwrap();
    attempt(&l, &registration(A), Outcome::Succeeded, t).unwrap();
    // A step that could not be kept gives its token back.
    let t1 = t + Duration::from_secs(10);
    attempt(&l, &page(A), Outcome::Succeeded, t1).unwrap();
    assert!(l.reserve_at(&page(A), t1).is_err());
    let t2 = t1 + Duration::from_secs(5);
    attempt(&l, &page(A), Outcome::NotChecked, t2).unwrap();
    attempt(&l, &page(A), Outcome::Succeeded, t2).unwrap();
}

#[test]
fn pending_steps_of_unknown_sources_are_not_limited() {
    let l = Limiter::default();
    for _ in 0..1000 {
        attempt(&l, &page(None), Outcome::Succeeded, Instant::now()).unwrap();
    }
    assert!(l.lock_quotas().debts.is_empty());
}

#[test]
fn a_clock_read_just_before_another_thread_made_a_key_is_not_a_delay() {
    // Threads read the clock before taking the lock: one may count with an instant a little
    // earlier than the one another thread just made the account's key with.
    let l = Limiter::default();
    let t = Instant::now() + Duration::from_secs(1);
    l.reserve_at(&alice(A), t).unwrap();
    l.reserve_at(&alice(B), t - Duration::from_nanos(50))
        .unwrap();
}
