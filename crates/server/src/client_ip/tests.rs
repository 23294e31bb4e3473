use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

use super::client_ip;

const PEER: &str = "127.0.0.1";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn headers(values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        map.append("x-forwarded-for", HeaderValue::from_bytes(value).unwrap());
    }
    map
}

/// The client as `PASSKEYD_TRUST_FORWARDED_FOR=true` sees it.
fn one_hop(values: &[&[u8]]) -> IpAddr {
    client_ip(ip(PEER), &headers(values), 1, |_| true)
}

/// The client as `PASSKEYD_TRUSTED_PROXIES=127.0.0.0/8,10.0.0.0/8` sees it.
fn proxies(peer: &str, values: &[&[u8]]) -> IpAddr {
    let nets: Vec<IpNet> = ["127.0.0.0/8", "10.0.0.0/8"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    client_ip(ip(peer), &headers(values), usize::MAX, |ip| {
        nets.iter().any(|net| net.contains(ip))
    })
}

#[test]
fn one_hop_takes_the_rightmost_entry() {
    assert_eq!(one_hop(&[]), ip(PEER));
    assert_eq!(one_hop(&[b"192.0.2.1"]), ip("192.0.2.1"));
    assert_eq!(one_hop(&[b"198.51.100.9, 192.0.2.1"]), ip("192.0.2.1"));
    // Several header lines are one list: the proxy's line comes last.
    assert_eq!(one_hop(&[b"198.51.100.9", b"192.0.2.1"]), ip("192.0.2.1"));
}

#[test]
fn malformed_entries_are_never_believed() {
    for bad in [
        &b"192.0.2.1, nope"[..],
        b"192.0.2.1,",
        b"192.0.2.1, 300.0.0.1",
        b"192.0.2.1 192.0.2.2",
        b"\xff\xfe",
    ] {
        assert_eq!(one_hop(&[bad]), ip(PEER), "{bad:?}");
    }
    assert_eq!(
        proxies(PEER, &[b"192.0.2.1, garbage, 10.0.0.1"]),
        ip("10.0.0.1")
    );
}

#[test]
fn trusted_proxies_are_skipped_from_the_right() {
    assert_eq!(
        proxies(PEER, &[b"198.51.100.9, 192.0.2.1, 10.0.0.2, 10.0.0.1"]),
        ip("192.0.2.1")
    );
    // Only proxies: the furthest one is the client.
    assert_eq!(proxies(PEER, &[b"10.0.0.2, 10.0.0.1"]), ip("10.0.0.2"));
    // A peer that is no trusted proxy: the header is ignored.
    assert_eq!(
        proxies("192.0.2.50", &[b"10.0.0.1, 192.0.2.1"]),
        ip("192.0.2.50")
    );
}

#[test]
fn ports_and_mapped_addresses_are_read_as_addresses() {
    assert_eq!(one_hop(&[b"192.0.2.1:4711"]), ip("192.0.2.1"));
    assert_eq!(one_hop(&[b"[2001:db8::1]:4711"]), ip("2001:db8::1"));
    assert_eq!(one_hop(&[b"::ffff:192.0.2.1"]), ip("192.0.2.1"));
    assert_eq!(
        proxies(PEER, &[b"192.0.2.1, ::ffff:10.0.0.1"]),
        ip("192.0.2.1")
    );
}
