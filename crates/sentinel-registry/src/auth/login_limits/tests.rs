use super::*;

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn is_limited(result: Result<LoginAttempt<'_>, Refusal>) -> bool {
    matches!(result, Err(Refusal::Limited(_)))
}

/// How many buckets and known addresses the failed-login limiter keeps.
fn kept(limits: &LoginLimits) -> (usize, usize) {
    let state = limits.failed_logins.as_ref().unwrap().lock();
    (state.buckets.len(), state.known.len())
}

#[test]
fn failures_for_a_name_from_an_address_block_that_name_there_only() {
    let limits = LoginLimits::new(3);
    let (here, elsewhere) = (address("192.0.2.1"), address("192.0.2.2"));
    for _ in 0..3 {
        limits.begin_login(here, Some("alice")).unwrap().failed();
    }
    assert!(
        is_limited(limits.begin_login(here, Some("alice"))),
        "alice is blocked here"
    );
    assert!(
        limits.begin_login(elsewhere, Some("alice")).is_ok(),
        "alice is not blocked elsewhere"
    );
    assert!(
        limits.begin_login(here, Some("admin")).is_ok(),
        "other names are not blocked here"
    );
}

#[test]
fn spraying_names_from_an_address_blocks_the_address_for_every_name() {
    let limits = LoginLimits::new(3);
    let (here, elsewhere) = (address("192.0.2.1"), address("192.0.2.2"));
    let allowance = 3 * ADDRESS_MULTIPLE;
    for i in 0..allowance {
        let user = format!("user{i}");
        limits.begin_login(here, Some(&user)).unwrap().failed();
    }
    assert!(is_limited(limits.begin_login(here, Some("admin"))));
    assert!(
        is_limited(limits.begin_login(here, None)),
        "logins naming no user (tokens) too"
    );
    assert!(limits.begin_login(elsewhere, Some("user0")).is_ok());
    assert!(limits.begin_login(elsewhere, Some("admin")).is_ok());
}

#[test]
fn logins_naming_no_user_count_against_the_address_only() {
    let limits = LoginLimits::new(3);
    let here = address("192.0.2.1");
    for _ in 0..3 * ADDRESS_MULTIPLE {
        limits.begin_login(here, None).unwrap().failed();
    }
    assert!(is_limited(limits.begin_login(here, None)));
    assert!(is_limited(limits.begin_login(here, Some("alice"))));
    assert!(
        limits
            .begin_login(address("192.0.2.2"), Some("alice"))
            .is_ok(),
        "no user name was charged"
    );
}

#[test]
fn guessing_from_many_addresses_blocks_the_name_except_where_it_logged_in() {
    let limits = LoginLimits::new(2);
    let (home, office) = (address("198.51.100.1"), address("198.51.100.2"));
    limits.begin_login(home, Some("alice")).unwrap().succeeded();
    // A check that could not run makes nothing known.
    drop(limits.begin_login(office, Some("alice")).unwrap());
    // 2 failures from each of 10 addresses: no pair is over its 2, no
    // address over its 6, and alice's 20 across addresses are spent.
    for i in 0..USER_MULTIPLE {
        let attacker = address(&format!("203.0.113.{i}"));
        for _ in 0..2 {
            limits
                .begin_login(attacker, Some("alice"))
                .unwrap()
                .failed();
        }
    }
    let newcomer = address("203.0.113.200");
    assert!(
        is_limited(limits.begin_login(newcomer, Some("alice"))),
        "alice is blocked from an address she never logged in from"
    );
    assert!(
        is_limited(limits.begin_login(office, Some("alice"))),
        "an attempt that ended unanswered made no address known"
    );
    assert!(
        limits.begin_login(newcomer, Some("bob")).is_ok(),
        "other names are not blocked"
    );
    assert!(
        limits.begin_login(home, Some("alice")).is_ok(),
        "alice still logs in where she did before"
    );
    // Where she is known, alice's name and address still count.
    for _ in 0..2 {
        limits.begin_login(home, Some("alice")).unwrap().failed();
    }
    assert!(is_limited(limits.begin_login(home, Some("alice"))));
}

#[test]
fn an_address_is_known_for_a_day() {
    let failed = FailedLogins::new(NonZeroU32::new(1).unwrap());
    let (home, newcomer) = (address("198.51.100.1"), address("203.0.113.200"));
    let start = Instant::now();
    let keys = failed.reserve(home, Some("alice"), start).unwrap();
    failed.settle(&keys, Outcome::Succeeded, start);
    // Spends alice's failures across addresses at `at`.
    let spend_alice = |at: Instant| {
        for i in 0..USER_MULTIPLE {
            let attacker = address(&format!("203.0.113.{i}"));
            let keys = failed.reserve(attacker, Some("alice"), at).unwrap();
            failed.settle(&keys, Outcome::Failed, at);
        }
        assert!(failed.reserve(newcomer, Some("alice"), at).is_err());
    };

    let before = start + KNOWN_ADDRESS_TTL - Duration::from_secs(60);
    spend_alice(before);
    let keys = failed.reserve(home, Some("alice"), before).unwrap();
    failed.settle(&keys, Outcome::Abandoned, before);

    let after = start + KNOWN_ADDRESS_TTL + Duration::from_secs(60);
    spend_alice(after);
    assert!(
        failed.reserve(home, Some("alice"), after).is_err(),
        "a day after alice logged in, her address is a stranger's"
    );
    failed.forget_idle(after);
    assert!(failed.lock().known.is_empty(), "and it is forgotten");
}

#[test]
fn known_addresses_are_bounded_and_the_oldest_go_first() {
    let failed = FailedLogins::new(NonZeroU32::new(1).unwrap());
    let start = Instant::now();
    let home = address("198.51.100.1");
    let total = MAX_KNOWN_ADDRESSES as u64 + 5;
    for i in 0..total {
        let at = start + Duration::from_secs(i);
        let user = format!("user{i}");
        let keys = failed.reserve(home, Some(&user), at).unwrap();
        failed.settle(&keys, Outcome::Succeeded, at);
    }
    let state = failed.lock();
    assert_eq!(state.known.len(), MAX_KNOWN_ADDRESSES);
    assert!(!state.known.contains_key(&("user4".to_owned(), home)));
    assert!(state.known.contains_key(&("user5".to_owned(), home)));
    assert!(
        state
            .known
            .contains_key(&(format!("user{}", total - 1), home))
    );
}

#[test]
fn refused_attempts_keep_no_state() {
    let limits = LoginLimits::new(1);
    let here = address("192.0.2.1");
    for i in 0..ADDRESS_MULTIPLE {
        let user = format!("user{i}");
        limits.begin_login(here, Some(&user)).unwrap().failed();
    }
    let before = kept(&limits);
    for i in 0..1000 {
        let user = format!("made-up-{i}");
        assert!(limits.begin_login(here, Some(&user)).is_err());
    }
    assert_eq!(kept(&limits), before, "the spent address refused them all");

    // alice's name spent from many addresses: strangers' attempts for
    // her, from addresses never seen, are refused without a trace.
    for i in 0..USER_MULTIPLE {
        let attacker = address(&format!("203.0.113.{i}"));
        limits
            .begin_login(attacker, Some("alice"))
            .unwrap()
            .failed();
    }
    let before = kept(&limits);
    for i in 0..1000u32 {
        let [_, _, high, low] = i.to_be_bytes();
        let stranger = address(&format!("10.0.{high}.{low}"));
        assert!(limits.begin_login(stranger, Some("alice")).is_err());
    }
    assert_eq!(kept(&limits), before, "the spent name refused them all");

    // Buckets that refilled are forgotten.
    limits
        .failed_logins
        .as_ref()
        .unwrap()
        .forget_idle(Instant::now() + Duration::from_secs(60 * u64::from(USER_MULTIPLE)));
    assert_eq!(kept(&limits), (0, 0));
}

#[test]
fn attempts_in_flight_hold_their_failures_so_concurrency_gains_nothing() {
    let limits = LoginLimits::new(3);
    let here: IpAddr = "192.0.2.1".parse().unwrap();
    let in_flight: Vec<_> = (0..3)
        .map(|_| limits.begin_login(here, Some("alice")).unwrap())
        .collect();
    assert!(
        matches!(
            limits.begin_login(here, Some("alice")),
            Err(Refusal::Busy(_))
        ),
        "all 3 are reserved, and may come back"
    );
    drop(in_flight);
    assert!(
        limits.begin_login(here, Some("alice")).is_ok(),
        "successes give their reservations back"
    );
}

#[test]
fn an_ipv6_client_is_counted_by_its_64_prefix() {
    let limits = LoginLimits::new(2);
    for last in 1..=2 * ADDRESS_MULTIPLE {
        let address: IpAddr = format!("2001:db8:1:2::{last}").parse().unwrap();
        limits.begin_login(address, None).unwrap().failed();
    }
    let sibling: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert!(limits.begin_login(sibling, None).is_err());
    assert!(limits.begin_login(elsewhere, None).is_ok());
}

#[test]
fn a_zero_limit_is_no_limit() {
    let limits = LoginLimits::new(0);
    let here: IpAddr = "192.0.2.1".parse().unwrap();
    for _ in 0..100 {
        limits.begin_login(here, Some("alice")).unwrap().failed();
    }
    assert!(limits.begin_login(here, Some("alice")).is_ok());
}
