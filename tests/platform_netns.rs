//! The platform layer against a real kernel: two network namespaces joined by a veth
//! pair, netlink and packet sockets opened inside one of them. Needs root; skips
//! otherwise.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::StreamExt;
use support::agents::can_run_lab;
use support::netns::{block_on, create, ifindex, ip, run, veth_pair, Capture, Namespace};
use twinstar::platform::announce::Announcer;
use twinstar::platform::netlink::{self, InterfaceAddress, LinkWatch, Netlink};
use twinstar::platform::vrrp_socket::{RecvDrop, VrrpSocket};
use twinstar::platform::PlatformError;
use twinstar::wire::arp::gratuitous_arp;
use twinstar::wire::ndisc::unsolicited_na;

const LOCAL: &str = "tsa";
const PEER: &str = "tsb";
const LOCAL_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x53, 0x0a];
const LOCAL_MAC_TEXT: &str = "02:00:00:00:53:0a";
const PEER_MAC_TEXT: &str = "02:00:00:00:53:0b";

/// Two namespaces, `local` (where the code under test runs) and `peer`, joined by a
/// veth pair `tsa` <-> `tsb`. Both namespaces go away when the lab drops.
struct Lab {
    local: Namespace,
    peer: Namespace,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let pid = std::process::id();
        let local = create(&format!("tsplat-{test}-a-{pid}"));
        let peer = create(&format!("tsplat-{test}-b-{pid}"));
        veth_pair(&local, LOCAL, LOCAL_MAC_TEXT, &peer, PEER, PEER_MAC_TEXT);
        Lab { local, peer }
    }

    /// The `ip -j addr` JSON object describing `address` on the local interface.
    fn address_json(&self, address: &str) -> Option<String> {
        let json = ip(&self.local, &["-j", "addr", "show", "dev", LOCAL]);
        let needle = format!("\"local\":\"{address}\"");
        json.split('{')
            .find(|object| object.contains(&needle))
            .map(str::to_owned)
    }
}

/// Waits (at most 10 s) for the next event about `index` with the given carrier.
async fn carrier_becomes(watch: &mut LinkWatch, index: u32, carrier: bool) -> netlink::LinkEvent {
    let wait = async {
        while let Some(event) = watch.next().await {
            if event.index == index && event.carrier == carrier {
                return event;
            }
        }
        panic!("link watch ended");
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no carrier={carrier} event for {index} within 10 s"))
}

/// Polls for the interface's link-local address, failing after `limit`.
async fn link_local_within(netlink: &Netlink, index: u32, limit: Duration) -> Ipv6Addr {
    let poll = async {
        loop {
            if let Some(address) = netlink.link_local_ipv6(index).await.unwrap() {
                return address;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(limit, poll)
        .await
        .unwrap_or_else(|_| panic!("no link-local address on {index} within {limit:?}"))
}

#[test]
fn link_by_name_reports_index_mac_and_carrier() {
    if !can_run_lab("link_by_name_reports_index_mac_and_carrier") {
        return;
    }
    let lab = Lab::new("link");
    let index = ifindex(&lab.local, LOCAL);
    block_on(&lab.local, || async {
        let netlink = Netlink::connect().unwrap();
        let link = netlink.link_by_name(LOCAL).await.unwrap();
        assert_eq!(link.index, index);
        assert_eq!(link.name, LOCAL);
        assert_eq!(link.mac, LOCAL_MAC);
        assert!(link.up);
        assert!(link.carrier);

        ip(&lab.peer, &["link", "set", PEER, "down"]);
        let link = netlink.link_by_name(LOCAL).await.unwrap();
        assert!(link.up, "our side is still administratively up");
        assert!(!link.carrier, "no carrier once the peer is down");

        let missing = netlink.link_by_name("tsnone0").await.unwrap_err();
        assert!(
            matches!(&missing, PlatformError::NoSuchInterface(name) if name == "tsnone0"),
            "{missing:?}"
        );
    });
}

#[test]
fn addresses_are_added_and_removed_idempotently() {
    if !can_run_lab("addresses_are_added_and_removed_idempotently") {
        return;
    }
    let lab = Lab::new("addr");
    let v4: IpAddr = "192.0.2.50".parse().unwrap();
    let v6: IpAddr = "2001:db8::50".parse().unwrap();
    block_on(&lab.local, || async {
        let netlink = Netlink::connect().unwrap();
        let index = netlink.link_by_name(LOCAL).await.unwrap().index;

        for _ in 0..2 {
            netlink.add_address(index, v4, 24, None).await.unwrap();
            netlink.add_address(index, v6, 64, None).await.unwrap();
        }
        let addresses = netlink.addresses(index).await.unwrap();
        for (address, prefix_len) in [(v4, 24), (v6, 64)] {
            let expected = InterfaceAddress {
                address,
                prefix_len,
                secondary: false,
            };
            assert!(
                addresses.contains(&expected),
                "{expected:?} not in {addresses:?}"
            );
        }
        let v4_json = lab
            .address_json("192.0.2.50")
            .expect("IPv4 VIP in ip -j addr");
        assert!(v4_json.contains("\"prefixlen\":24"), "{v4_json}");
        let v6_json = lab
            .address_json("2001:db8::50")
            .expect("IPv6 VIP in ip -j addr");
        assert!(v6_json.contains("\"nodad\":true"), "{v6_json}");
        assert!(
            !v6_json.contains("tentative"),
            "VIP must be usable at once: {v6_json}"
        );

        for _ in 0..2 {
            netlink.remove_address(index, v4, 24).await.unwrap();
            netlink.remove_address(index, v6, 64).await.unwrap();
        }
        let addresses = netlink.addresses(index).await.unwrap();
        assert!(
            addresses.iter().all(|a| a.address != v4 && a.address != v6),
            "{addresses:?}"
        );
        assert_eq!(lab.address_json("192.0.2.50"), None);
        assert_eq!(lab.address_json("2001:db8::50"), None);

        let error = netlink.add_address(9999, v4, 24, None).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("adding 192.0.2.50/24 to interface 9999 failed"),
            "{error}"
        );
    });
}

#[test]
fn primary_ipv4_skips_secondaries_and_link_local_is_found() {
    if !can_run_lab("primary_ipv4_skips_secondaries_and_link_local_is_found") {
        return;
    }
    let lab = Lab::new("src");
    block_on(&lab.local, || async {
        let netlink = Netlink::connect().unwrap();
        let index = netlink.link_by_name(LOCAL).await.unwrap().index;
        assert_eq!(netlink.primary_ipv4(index).await.unwrap(), None);

        let primary = Ipv4Addr::new(192, 0, 2, 10);
        let secondary = Ipv4Addr::new(192, 0, 2, 11);
        netlink
            .add_address(index, primary.into(), 24, None)
            .await
            .unwrap();
        netlink
            .add_address(index, secondary.into(), 24, None)
            .await
            .unwrap();
        assert_eq!(netlink.primary_ipv4(index).await.unwrap(), Some(primary));
        let addresses = netlink.addresses(index).await.unwrap();
        assert!(addresses.contains(&InterfaceAddress {
            address: secondary.into(),
            prefix_len: 24,
            secondary: true,
        }));

        // The kernel adds the link-local once the link has carrier; give it a bounded while.
        let found = link_local_within(&netlink, index, Duration::from_secs(10)).await;
        let shown = ip(
            &lab.local,
            &["-6", "-o", "addr", "show", "dev", LOCAL, "scope", "link"],
        );
        let expected: Ipv6Addr = shown
            .split_whitespace()
            .skip_while(|word| *word != "inet6")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next())
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("no link-local in {shown:?}"));
        assert_eq!(found, expected);
    });
}

#[test]
fn watch_links_reports_carrier_loss_and_return() {
    if !can_run_lab("watch_links_reports_carrier_loss_and_return") {
        return;
    }
    let lab = Lab::new("watch");
    let index = ifindex(&lab.local, LOCAL);
    block_on(&lab.local, || async {
        let mut watch = netlink::watch_links().unwrap();

        ip(&lab.peer, &["link", "set", PEER, "down"]);
        let lost = carrier_becomes(&mut watch, index, false).await;
        assert_eq!(lost.name, LOCAL);

        ip(&lab.peer, &["link", "set", PEER, "up"]);
        let back = carrier_becomes(&mut watch, index, true).await;
        assert_eq!(back.name, LOCAL);
    });
}

#[test]
fn watch_links_reports_a_deletion_and_the_interface_made_again() {
    if !can_run_lab("watch_links_reports_a_deletion_and_the_interface_made_again") {
        return;
    }
    let lab = Lab::new("remake");
    let old = ifindex(&lab.local, LOCAL);
    block_on(&lab.local, || async {
        let mut watch = netlink::watch_links().unwrap();
        carrier_becomes(&mut watch, old, true).await;

        ip(&lab.local, &["link", "del", LOCAL]);
        let deleted = async {
            while let Some(event) = watch.next().await {
                if event.index == old && event.removed {
                    return event;
                }
            }
            panic!("link watch ended");
        };
        let gone = tokio::time::timeout(Duration::from_secs(10), deleted)
            .await
            .expect("no deletion reported within 10 s");
        assert_eq!(gone.name, LOCAL);
        assert!(!gone.carrier);

        veth_pair(
            &lab.local,
            LOCAL,
            LOCAL_MAC_TEXT,
            &lab.peer,
            PEER,
            PEER_MAC_TEXT,
        );
        let new = ifindex(&lab.local, LOCAL);
        assert_ne!(new, old);
        let back = carrier_becomes(&mut watch, new, true).await;
        assert_eq!(back.name, LOCAL);
        assert!(!back.removed);
    });
}

#[test]
fn gratuitous_arp_reaches_the_peer_byte_for_byte() {
    if !can_run_lab("gratuitous_arp_reaches_the_peer_byte_for_byte") {
        return;
    }
    let lab = Lab::new("garp");
    let index = ifindex(&lab.local, LOCAL);
    let vip = Ipv4Addr::new(192, 0, 2, 50);
    let filter = format!("arp and ether src {LOCAL_MAC_TEXT}");
    let capture = Capture::start(&lab.peer, PEER, &filter);
    let frame = run(&lab.local, || {
        let announcer = Announcer::open().unwrap();
        capture.frame_after(|| announcer.send_garp(index, LOCAL_MAC, vip).unwrap())
    });
    assert_eq!(frame, gratuitous_arp(LOCAL_MAC, vip));
}

#[test]
fn unsolicited_na_reaches_the_peer_byte_for_byte() {
    if !can_run_lab("unsolicited_na_reaches_the_peer_byte_for_byte") {
        return;
    }
    let lab = Lab::new("na");
    let index = ifindex(&lab.local, LOCAL);
    let vip: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let source = block_on(&lab.local, || async {
        let netlink = Netlink::connect().unwrap();
        link_local_within(&netlink, index, Duration::from_secs(10)).await
    });
    let filter = format!("ether src {LOCAL_MAC_TEXT} and icmp6 and ip6[40] == 136");
    let capture = Capture::start(&lab.peer, PEER, &filter);
    let frame = run(&lab.local, || {
        let announcer = Announcer::open().unwrap();
        capture.frame_after(|| {
            announcer
                .send_unsolicited_na(index, LOCAL_MAC, source, vip, false)
                .unwrap()
        })
    });
    assert_eq!(frame, unsolicited_na(LOCAL_MAC, source, vip, false));
}

#[test]
fn sending_on_a_missing_interface_is_an_error_not_a_panic() {
    if !can_run_lab("sending_on_a_missing_interface_is_an_error_not_a_panic") {
        return;
    }
    let lab = Lab::new("nodev");
    run(&lab.local, || {
        let announcer = Announcer::open().unwrap();
        let error = announcer
            .send_garp(9999, LOCAL_MAC, Ipv4Addr::new(192, 0, 2, 50))
            .unwrap_err();
        assert!(matches!(
            error,
            PlatformError::SendAnnouncement {
                interface_index: 9999,
                ..
            }
        ));
    });
}

/// The `"valid_life_time"` of `object` (a piece of `ip -j addr` output).
fn valid_lifetime(object: &str) -> u64 {
    let (_, after) = object
        .split_once("\"valid_life_time\":")
        .unwrap_or_else(|| panic!("no valid_life_time in {object}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[test]
fn vip_lifetimes_are_set_renewed_lifted_and_expire() {
    if !can_run_lab("vip_lifetimes_are_set_renewed_lifted_and_expire") {
        return;
    }
    let lab = Lab::new("life");
    let v4: IpAddr = "192.0.2.50".parse().unwrap();
    let v6: IpAddr = "2001:db8::50".parse().unwrap();
    let five = Some(Duration::from_secs(5));
    block_on(&lab.local, || async {
        let netlink = Netlink::connect().unwrap();
        let index = netlink.link_by_name(LOCAL).await.unwrap().index;
        let lifetime = |text: &str| valid_lifetime(&lab.address_json(text).expect(text));

        netlink.add_address(index, v4, 24, five).await.unwrap();
        netlink.add_address(index, v6, 64, five).await.unwrap();
        assert_eq!((lifetime("192.0.2.50"), lifetime("2001:db8::50")), (5, 5));
        // The kernel counts down in whole seconds; adding again renews
        // (NLM_F_REPLACE: without it the lifetime would stay as it was).
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(lifetime("192.0.2.50") < 5);
        netlink.add_address(index, v4, 24, five).await.unwrap();
        netlink.add_address(index, v6, 64, five).await.unwrap();
        assert_eq!((lifetime("192.0.2.50"), lifetime("2001:db8::50")), (5, 5));
        // Forever lifts the lifetime of an address that had one.
        netlink.add_address(index, v4, 24, None).await.unwrap();
        netlink.add_address(index, v6, 64, None).await.unwrap();
        let forever = u64::from(u32::MAX);
        assert_eq!(
            (lifetime("192.0.2.50"), lifetime("2001:db8::50")),
            (forever, forever)
        );
        // Not renewed, an address goes by itself: the dead-man switch.
        let two = Some(Duration::from_secs(2));
        netlink.add_address(index, v4, 24, two).await.unwrap();
        netlink.add_address(index, v6, 64, two).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(lab.address_json("192.0.2.50"), None);
        assert_eq!(lab.address_json("2001:db8::50"), None);
    });
}

/// The next notice about `vip` (at most 10 s away).
async fn next_about(
    watch: &mut twinstar::platform::address_watch::AddressWatch,
    vip: IpAddr,
) -> twinstar::platform::address_watch::AddressNotice {
    use twinstar::platform::address_watch::AddressNotice;
    let wait = async {
        while let Some(notice) = watch.next().await {
            if let AddressNotice::Changed { address, .. } = notice {
                if address == vip {
                    return notice;
                }
            }
        }
        panic!("address watch ended");
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a notice within 10 s")
}

#[test]
fn the_address_watch_reports_additions_and_deletions() {
    use twinstar::platform::address_watch::{watch_addresses, AddressNotice};
    if !can_run_lab("the_address_watch_reports_additions_and_deletions") {
        return;
    }
    let lab = Lab::new("awatch");
    let vip: IpAddr = "192.0.2.50".parse().unwrap();
    block_on(&lab.local, || async {
        let mut watch = watch_addresses().unwrap();
        let netlink = Netlink::connect().unwrap();
        let index = netlink.link_by_name(LOCAL).await.unwrap().index;
        netlink.add_address(index, vip, 24, None).await.unwrap();
        let added = next_about(&mut watch, vip).await;
        assert_eq!(
            added,
            AddressNotice::Changed {
                ifindex: index,
                address: vip,
                present: true
            }
        );
        ip(&lab.local, &["addr", "del", "192.0.2.50/24", "dev", LOCAL]);
        let removed = next_about(&mut watch, vip).await;
        assert_eq!(
            removed,
            AddressNotice::Changed {
                ifindex: index,
                address: vip,
                present: false
            }
        );
    });
}

/// A burst of changes that overruns the watch's receive buffer is reported
/// as one overrun, and the notices after it come as before: the queue was
/// emptied, which is what makes the kernel deliver again (a re-read the
/// agent does on an overrun then misses nothing notified after it).
#[test]
fn an_overrun_address_watch_reports_it_and_then_notices_again() {
    use twinstar::platform::address_watch::{watch_addresses_buffered, AddressNotice};
    if !can_run_lab("an_overrun_address_watch_reports_it_and_then_notices_again") {
        return;
    }
    let lab = Lab::new("aover");
    block_on(&lab.local, || async {
        let mut watch = watch_addresses_buffered(64 << 10).unwrap();
        // Far more notifications than a 64 KiB receive buffer holds, made
        // while nobody reads.
        let batch: String = (0..1000)
            .map(|n| {
                format!(
                    "addr add 198.51.{}.{}/32 dev {LOCAL}\n",
                    100 + n / 250,
                    1 + n % 250
                )
            })
            .collect();
        let path = std::env::temp_dir().join(format!("aover-{}.batch", std::process::id()));
        std::fs::write(&path, batch).unwrap();
        ip(&lab.local, &["-batch", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        let overrun = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(notice) = watch.next().await {
                if notice == AddressNotice::Overrun {
                    return true;
                }
            }
            false
        });
        assert!(
            overrun.await.expect("an overrun within 10 s"),
            "the watch ended without reporting an overrun"
        );
        // The queue was emptied at the overrun: the next notice is the
        // first change after it, not one of the burst still queued.
        let vip: IpAddr = "192.0.2.50".parse().unwrap();
        ip(&lab.local, &["addr", "add", "192.0.2.50/24", "dev", LOCAL]);
        let next = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
        assert!(
            matches!(
                next,
                Ok(Some(AddressNotice::Changed { address, present: true, .. })) if address == vip
            ),
            "{next:?}"
        );
    });
}

/// A burst queued on a VRRP socket is read in order, at most `max` per
/// read, the read that found the queue empty saying so; a datagram longer
/// than any advert (here 3,000 bytes of VRRP, fragmented on the way and
/// reassembled) is handed over as a drop, in its place, not as a payload
/// cut short.
#[test]
fn a_vrrp_reader_reads_a_burst_in_order_and_drops_an_oversized_datagram() {
    if !can_run_lab("a_vrrp_reader_reads_a_burst_in_order_and_drops_an_oversized_datagram") {
        return;
    }
    let lab = Lab::new("burst");
    ip(&lab.local, &["addr", "add", "192.0.2.1/24", "dev", LOCAL]);
    ip(&lab.peer, &["addr", "add", "192.0.2.2/24", "dev", PEER]);
    let (local_index, peer_index) = (ifindex(&lab.local, LOCAL), ifindex(&lab.peer, PEER));
    let local_address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let peer_address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let receiving = run(&lab.local, || {
        VrrpSocket::open(LOCAL, local_index, local_address).unwrap()
    });
    let mut reader = receiving.reader().unwrap();
    let sending = run(&lab.peer, || {
        VrrpSocket::open(PEER, peer_index, peer_address).unwrap()
    });
    // 70 small datagrams numbered by their first byte, the oversized one,
    // then two more.
    let small = |n: u8| vec![n; 20];
    let mut sent: Vec<Vec<u8>> = (0..70).map(small).collect();
    sent.push(vec![0xee; 3000]);
    sent.extend([small(70), small(71)]);
    for message in &sent {
        sending.send(message).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));

    let mut read = |max| {
        let mut seen = Vec::new();
        let batch = reader
            .recv_queued(max, |received| {
                seen.push(received.map(|r| (r.source, r.hop_limit, r.payload.to_vec())));
            })
            .unwrap();
        (batch, seen)
    };
    let (first, mut seen) = read(64);
    assert_eq!((first.count, first.emptied), (64, false), "{first:?}");
    let (second, rest) = read(64);
    assert_eq!((second.count, second.emptied), (9, true), "{second:?}");
    seen.extend(rest);
    for (n, (got, message)) in seen.iter().zip(&sent).enumerate() {
        if message.len() == 3000 {
            assert_eq!(
                got,
                &Err(RecvDrop::BadIpHeader("truncated")),
                "datagram {n}"
            );
        } else {
            assert_eq!(
                got,
                &Ok((peer_address, Some(255), message.clone())),
                "datagram {n}"
            );
        }
    }
    let (empty, none) = read(64);
    assert_eq!((empty.count, empty.emptied, none.len()), (0, true, 0));
}
