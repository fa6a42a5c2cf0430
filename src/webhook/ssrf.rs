//! Which addresses a callback may reach. A callback URL is the caller's text, and reportq
//! POSTs to it from inside the operator's network: without these checks anyone could make it
//! call the instance metadata service, a database on a private subnet, or the worker itself.
//!
//! The check is on the resolved addresses, not the name (a name can resolve anywhere), at
//! submit and again at every delivery. Deliveries share one pooled HTTP client whose resolver
//! is [`CheckedResolver`]: every address it connects to is checked at the moment it is looked
//! up, so a rebinding DNS server that answers the delivery's own check with a public address
//! and the connection's lookup with a private one is refused all the same. An allow-list
//! (`REPORTQ_WEBHOOK_ALLOW_NETS`, CIDRs) lets chosen networks through, over http too: the
//! tests' loopback receiver, or a receiver on the operator's own private network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub use crate::domain::webhook::AllowList;

/// Why an address may not be called, or `None` if it is a public unicast address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] | [169, 254, 170, 2] => "the cloud metadata service",
        [127, ..] => "loopback",
        [0, ..] => "'this network' (0.0.0.0/8)",
        [10, ..] | [192, 168, ..] => "a private network",
        [172, b, ..] if (16..32).contains(&b) => "a private network",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "carrier-grade NAT (shared address space)",
        [192, 0, 0, _] => "IETF protocol assignments",
        [198, 18 | 19, ..] => "a benchmarking network",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "a documentation network",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved (or broadcast)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Addresses that carry an IPv4 address: judged by the address they carry.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[..3] == [0x64, 0xff9b, 1] {
        // NAT64's local-use prefix (64:ff9b:1::/48, RFC 8215): the IPv4 address may sit at any
        // of RFC 6052's offsets, so no one reading of it can be trusted. Refused whole.
        return Some("a local-use NAT64 prefix (64:ff9b:1::/48)");
    }
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-translated addresses (::ffff:0:0/96, SIIT, RFC 2765): a translator would reach
        // the embedded IPv4 address. Refused whole, like the local-use NAT64 prefix.
        return Some("an IPv4-translated address (::ffff:0:0/96)");
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64's well-known prefix (64:ff9b::/96): the gateway would connect to the embedded
        // IPv4 address, in the last 32 bits.
        return forbidden_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if s[0] == 0x2002 {
        // 6to4 (2002::/16): the embedded address is the relay's target.
        return forbidden_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    Some(match s {
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "the cloud metadata service",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "the unspecified address",
        // IPv4-compatible (::a.b.c.d, deprecated) and the rest of ::/96.
        [0, 0, 0, 0, 0, 0, _, _] => "an IPv4-compatible address",
        [a, ..] if a & 0xfe00 == 0xfc00 => "a private network (unique local)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0xdb8, ..] => "a documentation network",
        // Teredo hides the IPv4 address it reaches; nothing legitimate needs it here.
        [0x2001, 0, ..] => "a Teredo tunnel",
        [0x100, 0, 0, 0, ..] => "a discard prefix",
        _ => return None,
    })
}

/// A callback URL that may not be called, and why (words safe to show the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    pub reason: String,
    /// The name did not resolve (or not in time): it may resolve later, so a delivery is
    /// retried. Every other refusal is about the URL or its addresses and stands.
    pub transient: bool,
}

impl Refused {
    fn permanent(reason: impl Into<String>) -> Refused {
        Refused { reason: reason.into(), transient: false }
    }

    fn unresolved(reason: String) -> Refused {
        Refused { reason, transient: true }
    }
}

/// Where a callback goes: the URL, its host as written, and the checked addresses to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Checks addresses already resolved: every one must be public or allow-listed; plain http
/// and ports other than 443 are allowed only when all are allow-listed (a public host's other
/// ports are not a webhook's business, and each attempt's status would otherwise tell a caller
/// which of them are open).
pub fn check_addrs(url: &url::Url, addrs: &[SocketAddr], allow: &AllowList) -> Result<(), Refused> {
    if addrs.is_empty() {
        return Err(Refused::permanent(format!("{} resolves to no address", url.host_str().unwrap_or(""))));
    }
    let all_allowed = addrs.iter().all(|a| allow.allows(a.ip()));
    for a in addrs {
        if allow.allows(a.ip()) {
            continue;
        }
        if let Some(why) = forbidden(a.ip()) {
            return Err(Refused::permanent(format!(
                "{} resolves to {} ({why}); callbacks go to public addresses only",
                url.host_str().unwrap_or(""),
                a.ip()
            )));
        }
    }
    if url.scheme() != "https" && !all_allowed {
        return Err(Refused::permanent("callback URLs must be https"));
    }
    if url.port_or_known_default() != Some(443) && !all_allowed {
        return Err(Refused::permanent("callback URLs to public addresses use port 443 (the https default)"));
    }
    Ok(())
}

/// The webhook client's resolver: looks a name up and lets the connection go only if every
/// address is public or allow-listed ([`check_addrs`] without the scheme rule, which the
/// delivery checked on the URL). IP literals never reach a resolver; the delivery's own check
/// covers them.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    pub allow: AllowList,
    pub timeout: Duration,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (allow, timeout) = (self.allow.clone(), self.timeout);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), 0))).await {
                Ok(Ok(a)) => a.collect(),
                Ok(Err(e)) => return Err(Refused::unresolved(format!("{host} does not resolve: {e}")).into()),
                Err(_) => return Err(Refused::unresolved(format!("{host} did not resolve within {timeout:?}")).into()),
            };
            if addrs.is_empty() {
                return Err(Refused::permanent(format!("{host} resolves to no address")).into());
            }
            for a in &addrs {
                if let (false, Some(why)) = (allow.allows(a.ip()), forbidden(a.ip())) {
                    return Err(Refused::permanent(format!("{host} resolves to {} ({why}); callbacks go to public addresses only", a.ip())).into());
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Resolves the URL's host and checks every address it resolves to.
pub async fn resolve(url: &str, allow: &AllowList, timeout: Duration) -> Result<Target, Refused> {
    let url = url::Url::parse(url).map_err(|e| Refused::permanent(format!("not a URL: {e}")))?;
    let host = url.host_str().ok_or_else(|| Refused::permanent("the URL has no host"))?.to_string();
    let port = url.port_or_known_default().ok_or_else(|| Refused::permanent("the URL has no port"))?;
    // `[::1]` is how a URL writes an IPv6 literal; the resolver takes it bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let lookup = tokio::net::lookup_host((bare.as_str(), port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => return Err(Refused::unresolved(format!("{host} does not resolve: {e}"))),
        Err(_) => return Err(Refused::unresolved(format!("{host} did not resolve within {timeout:?}"))),
    };
    check_addrs(&url, &addrs, allow)?;
    Ok(Target { url, host: bare, addrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_forbidden_class_is_refused() {
        for (addr, class) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd12:3456::1", "private"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("169.254.169.254", "metadata"),
            ("169.254.170.2", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("0.0.0.0", "this network"),
            ("::", "unspecified"),
            ("100.64.0.1", "carrier-grade"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            // IPv4 carried in IPv6: judged by the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.1.2.3", "private"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
            ("2002:7f00:1::", "loopback"),
            ("::127.0.0.1", "IPv4-compatible"),
        ] {
            let why = forbidden(ip(addr)).unwrap_or_else(|| panic!("{addr} was allowed"));
            assert!(why.contains(class), "{addr}: {why}");
        }
        for public in ["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(forbidden(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_allow_list_lets_chosen_networks_through_over_http() {
        let url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        let addrs = [SocketAddr::new(ip("127.0.0.1"), 9)];
        assert!(check_addrs(&url, &addrs, &AllowList::default()).unwrap_err().reason.contains("loopback"));
        let allow = AllowList::parse("127.0.0.1/32").unwrap();
        check_addrs(&url, &addrs, &allow).unwrap();
        // One address outside the list spoils the name: DNS may hand out either.
        let mixed = [addrs[0], SocketAddr::new(ip("10.0.0.1"), 9)];
        assert!(check_addrs(&url, &mixed, &allow).is_err());
        // A public address still needs https.
        let public = url::Url::parse("http://example.org/").unwrap();
        let e = check_addrs(&public, &[SocketAddr::new(ip("93.184.215.14"), 80)], &AllowList::default()).unwrap_err();
        assert!(e.reason.contains("https"), "{e}");
        assert!(AllowList::parse("10.0.0.0/33").is_err());
        assert_eq!(AllowList::parse("::1, 10.0.0.0/8").unwrap().0.len(), 2);
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let e = resolve("https://localhost:9/hook", &AllowList::default(), Duration::from_secs(5)).await.unwrap_err();
        assert!(e.reason.contains("loopback"), "{e}");
        let t = resolve("http://localhost:9/hook", &AllowList::parse("127.0.0.0/8, ::1").unwrap(), Duration::from_secs(5)).await.unwrap();
        assert!(t.addrs.iter().all(|a| a.ip().is_loopback()));
        let e = resolve("https://[::ffff:127.0.0.1]:9/", &AllowList::default(), Duration::from_secs(5)).await.unwrap_err();
        assert!(e.reason.contains("loopback"), "{e}");
        assert!(!e.transient, "a forbidden address does not become allowed later");
    }

    /// The pooled client's resolver checks what it connects to: a name that resolves to
    /// loopback is refused unless allow-listed, whatever a check before it said.
    #[tokio::test]
    async fn the_clients_resolver_refuses_forbidden_addresses() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = |n: &str| reqwest::dns::Name::from_str(n).unwrap();
        let strict = CheckedResolver { allow: AllowList::default(), timeout: Duration::from_secs(5) };
        let err = strict.resolve(name("localhost")).await.err().expect("loopback refused").to_string();
        assert!(err.contains("loopback"), "{err}");
        let open = CheckedResolver { allow: AllowList::parse("127.0.0.0/8, ::1").unwrap(), timeout: Duration::from_secs(5) };
        let addrs: Vec<SocketAddr> = open.resolve(name("localhost")).await.map_err(|e| e.to_string()).unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    /// Found in review: the local-use NAT64 prefix was judged by its low 32 bits only, SIIT's
    /// ::ffff:0:0/96 was let through, and any port of a public host could be called.
    #[test]
    fn translated_prefixes_are_refused_whole_and_public_hosts_get_port_443_only() {
        for (addr, class) in [
            ("64:ff9b:1::808:808", "local-use NAT64"),
            ("64:ff9b:1:a00:1::", "local-use NAT64"),
            ("::ffff:0:808:808", "IPv4-translated"),
            ("::ffff:0:a00:1", "IPv4-translated"),
        ] {
            let why = forbidden(ip(addr)).unwrap_or_else(|| panic!("{addr} let through"));
            assert!(why.contains(class), "{addr}: {why}");
        }
        assert_eq!(forbidden(ip("64:ff9b::808:808")), None, "the well-known NAT64 prefix of a public address stays usable");
        let public = [SocketAddr::new(ip("93.184.215.14"), 443)];
        for (url, ok) in [
            ("https://example.org/", true),
            ("https://example.org:443/h", true),
            ("https://example.org:8443/h", false),
            ("https://example.org:22/", false),
        ] {
            let r = check_addrs(&url::Url::parse(url).unwrap(), &public, &AllowList::default());
            assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
        }
        // An allow-listed network is the operator's own: any port.
        let local = [SocketAddr::new(ip("127.0.0.1"), 8080)];
        assert!(check_addrs(&url::Url::parse("http://127.0.0.1:8080/").unwrap(), &local, &AllowList::parse("127.0.0.0/8").unwrap()).is_ok());
    }

    /// A delivery is retried only when the name did not resolve; a URL or address that may
    /// not be called gives up at once.
    #[tokio::test]
    async fn only_a_name_that_does_not_resolve_is_transient() {
        // `.invalid` never resolves (RFC 6761).
        let e = resolve("https://no-such-host.invalid/hook", &AllowList::default(), Duration::from_secs(5)).await.unwrap_err();
        assert!(e.transient, "{e}");
        for url in ["not a url", "https://localhost:9/", "http://93.184.215.14/hook"] {
            let e = resolve(url, &AllowList::default(), Duration::from_secs(5)).await.unwrap_err();
            assert!(!e.transient, "{url}: {e}");
        }
    }
}
