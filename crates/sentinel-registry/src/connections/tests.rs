use std::net::IpAddr;

use super::*;

#[test]
fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_itself() {
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(client_key(a), client_key(b));
    assert_ne!(client_key(a), client_key(c));
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
}

#[test]
fn connections_per_address_are_capped_and_given_back() {
    let counts = Arc::new(AddressCounts {
        max: 2,
        counts: Mutex::new(HashMap::new()),
    });
    let here: IpAddr = "192.0.2.1".parse().unwrap();
    let there: IpAddr = "192.0.2.2".parse().unwrap();
    let first = counts.take(here).unwrap();
    let _second = counts.take(here).unwrap();
    assert!(counts.take(here).is_none());
    assert!(counts.take(there).is_some());
    drop(first);
    assert!(counts.take(here).is_some());
    drop(counts.take(there));
    let left = counts.counts.lock().unwrap().len();
    assert_eq!(left, 1, "an address with no connection is forgotten");
}

#[test]
fn the_default_cap_leaves_a_file_per_connection() {
    assert_eq!(default_max_connections(Some(1024)), 512);
    assert_eq!(default_max_connections(Some(10)), 64);
    assert_eq!(default_max_connections(None), 512);
}

#[test]
fn idle_and_stalled_connections_become_overdue() {
    let limits = ConnectionLimits {
        header_timeout: Duration::from_millis(30),
        keep_alive_timeout: Duration::from_millis(60),
        body_timeout: Duration::from_millis(30),
        max_connections: 1,
        max_per_address: 0,
        http2_max_streams: 1,
    };
    let state = Arc::new(ConnectionState::new(Clock(Instant::now())));
    assert_eq!(state.overdue(&limits), None);
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(state.overdue(&limits), Some("no request arrived in time"));

    let active = state.begin_request();
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(state.overdue(&limits), None, "a request is in progress");
    state.write_pending(true);
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(
        state.overdue(&limits),
        Some("the client stopped reading the response")
    );
    state.write_pending(false);
    drop(active);
    assert_eq!(state.overdue(&limits), None, "idle for a moment only");
    state.bytes_read();
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(
        state.overdue(&limits),
        Some("the request headers did not arrive in time")
    );
}
