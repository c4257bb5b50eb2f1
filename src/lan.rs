//! Part of the `wshub` binary, not the library: the addresses another
//! device on the network (a phone, a pupil's laptop) can open when wshub
//! listens on every interface (`--addr 0.0.0.0:PORT`), where the start
//! line's `http://0.0.0.0:PORT/` would not work.

use std::net::{IpAddr, SocketAddr};

/// The URLs (`scheme` is `http` or `https`) to print for a server bound
/// to `bound`, given this machine's
/// interface addresses: none unless `bound` is unspecified (`0.0.0.0` takes
/// IPv4 only, `[::]` both), and neither loopback (only this machine) nor
/// IPv6 link-local (a browser needs the interface's zone to open it).
pub(crate) fn urls(scheme: &str, bound: SocketAddr, interfaces: &[IpAddr]) -> Vec<String> {
    if !bound.ip().is_unspecified() {
        return Vec::new();
    }
    let port = bound.port();
    let mut out = Vec::new();
    for ip in interfaces {
        let reachable = match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
            IpAddr::V6(v6) => {
                bound.is_ipv6()
                    && !v6.is_loopback()
                    && !v6.is_unspecified()
                    && !v6.is_unicast_link_local()
            }
        };
        let url = format!("{scheme}://{}/", SocketAddr::new(*ip, port));
        if reachable && !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// This machine's interface addresses; none if the system will not say
/// (the URLs are a convenience; the server runs regardless).
pub(crate) fn interfaces() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|list| list.iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn every_interface_but_loopback_when_bound_to_all() {
        let found = ips(&[
            "127.0.0.1",
            "192.168.1.5",
            "::1",
            "fe80::1",
            "2001:db8::5",
            "10.0.0.2",
        ]);
        assert_eq!(
            urls("http", "0.0.0.0:8080".parse().unwrap(), &found),
            ["http://192.168.1.5:8080/", "http://10.0.0.2:8080/"]
        );
        assert_eq!(
            urls("http", "[::]:8080".parse().unwrap(), &found),
            [
                "http://192.168.1.5:8080/",
                "http://[2001:db8::5]:8080/",
                "http://10.0.0.2:8080/"
            ]
        );
    }

    #[test]
    fn none_when_bound_to_one_address() {
        let found = ips(&["127.0.0.1", "192.168.1.5"]);
        assert!(urls("http", "127.0.0.1:8080".parse().unwrap(), &found).is_empty());
        assert!(urls("https", "192.168.1.5:8080".parse().unwrap(), &found).is_empty());
    }
}
