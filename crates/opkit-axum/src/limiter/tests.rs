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
