//! The chaos sampler: every 10 ms the client asks who has the VIP (a broadcast
//! ARP request, as any client on the LAN would) and records which hosts answer,
//! and reads which agent namespaces hold the VIP (a netlink address dump in
//! each); a tap on the bridge records every VRRP advert on the segment.
//!
//! It runs on threads of its own, at a real-time priority when it may, so a
//! CPU-hog fault slows the agents rather than the measurement.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket as NetlinkSocket, SocketAddr};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use super::bounds::SAMPLE_PERIOD;
use crate::lab::{LabError, Namespace};

/// EtherType of ARP.
const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv4.
const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_ALL`: every frame.
const ETH_P_ALL: u16 = 0x0003;

/// What the sampler saw in one 10 ms slot. Hosts are bits by lab index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the slot began, since the run's epoch.
    pub at: Duration,
    /// Hosts whose ARP reply for the VIP reached the client in this slot.
    pub answering: u8,
    /// A reply came from a MAC address of no lab host.
    pub stranger: bool,
    /// Agent namespaces with the VIP on an interface at the slot's start.
    pub holders: u8,
}

impl Sample {
    /// How many hosts answered.
    pub fn answers(&self) -> u32 {
        self.answering.count_ones() + u32::from(self.stranger)
    }
}

/// One VRRP advert seen on the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// When, since the run's epoch.
    pub at: Duration,
    /// Its IPv4 source.
    pub from: Ipv4Addr,
    /// Its VRID.
    pub vrid: u8,
    /// Its priority.
    pub priority: u8,
}

/// Where and what to sample.
pub struct Probe<'a> {
    /// The client's namespace and its interface, MAC and address.
    pub client: &'a Namespace,
    /// The client's MAC.
    pub client_mac: [u8; 6],
    /// The client's IPv4 address.
    pub client_ip: Ipv4Addr,
    /// The lab's hosts' MACs, by index (agents first, then the third host).
    pub host_macs: Vec<[u8; 6]>,
    /// The agents' namespaces, by index.
    pub agents: Vec<&'a Namespace>,
    /// The bridge namespace (its `br0` is tapped).
    pub bridge: &'a Namespace,
    /// The VIP.
    pub vip: Ipv4Addr,
}

/// A running sampler; [`stop`](Self::stop) returns what it saw.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    adverts: Arc<Mutex<Vec<Advert>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Sampler {
    /// Opens the sockets in their namespaces and starts sampling; times are
    /// measured from `epoch`.
    pub fn start(probe: &Probe<'_>, epoch: Instant) -> Result<Sampler, LabError> {
        let arp = probe.client.run_inside(open_arp_socket)??;
        let ifindex = probe.client.run_inside(|| interface_index("eth0"))??;
        let mut netlink = Vec::new();
        for ns in &probe.agents {
            netlink.push(ns.run_inside(open_netlink)??);
        }
        let tap = probe.bridge.run_inside(open_tap)??;
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let adverts = Arc::new(Mutex::new(Vec::new()));
        let request = arp_request(probe.client_mac, probe.client_ip, probe.vip);
        let destination = link_layer_address(ifindex)?;
        let prober = ArpProber {
            socket: arp,
            netlink,
            request,
            destination,
            host_macs: probe.host_macs.clone(),
            client_ip: probe.client_ip,
            vip: probe.vip,
        };
        let (s, out) = (stop.clone(), samples.clone());
        let sampling = std::thread::spawn(move || prober.run(epoch, &s, &out));
        let (s, out) = (stop.clone(), adverts.clone());
        let tapping = std::thread::spawn(move || run_tap(tap, epoch, &s, &out));
        Ok(Sampler {
            stop,
            samples,
            adverts,
            threads: vec![sampling, tapping],
        })
    }

    /// The samples so far (for waiting on a state while the run goes on).
    pub fn recent(&self, count: usize) -> Vec<Sample> {
        let samples = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        samples[samples.len().saturating_sub(count)..].to_vec()
    }

    /// Stops the threads and returns the samples and adverts.
    pub fn stop(mut self) -> (Vec<Sample>, Vec<Advert>) {
        self.halt();
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|p| p.into_inner()));
        let adverts = std::mem::take(&mut *self.adverts.lock().unwrap_or_else(|p| p.into_inner()));
        (samples, adverts)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Raises the calling thread to SCHED_FIFO priority 5 (agents run as normal
/// processes by default) if allowed, so that a CPU hog cannot make samples
/// uneven; sampling at normal priority also works, only less evenly.
fn raise_priority() {
    let param = libc::sched_param { sched_priority: 5 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
}

fn open_arp_socket() -> Result<Socket, LabError> {
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW.cloexec(),
        Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
    )?;
    Ok(socket)
}

fn open_tap() -> Result<Socket, LabError> {
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW.cloexec(),
        Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
    )?;
    let ifindex = interface_index("br0")?;
    socket.bind(&link_layer_address(ifindex)?)?;
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(socket)
}

fn open_netlink() -> Result<NetlinkSocket, LabError> {
    let mut socket = NetlinkSocket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: a valid socket descriptor and a timeval of the size given.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(LabError::Io(std::io::Error::last_os_error()));
    }
    Ok(socket)
}

fn interface_index(name: &str) -> Result<u32, LabError> {
    nix::net::if_::if_nametoindex(name).map_err(|e| LabError::Io(e.into()))
}

/// A `sockaddr_ll` for interface `ifindex`, to bind a packet socket or to send
/// a frame that carries its own Ethernet header.
fn link_layer_address(ifindex: u32) -> Result<SockAddr, LabError> {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's socket address types,
    // smaller than `sockaddr_storage`.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = 0;
    ll.sll_ifindex = i32::try_from(ifindex)
        .map_err(|_| LabError::Step(format!("interface index {ifindex} out of range")))?;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds an initialised `sockaddr_ll` of `length` bytes.
    Ok(unsafe { SockAddr::new(storage, length) })
}

/// A broadcast ARP request: who has `vip`? tell `ip` at `mac`.
fn arp_request(mac: [u8; 6], ip: Ipv4Addr, vip: Ipv4Addr) -> [u8; 42] {
    let mut frame = [0u8; 42];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    // Ethernet, IPv4, 6-byte and 4-byte addresses, request.
    frame[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&ip.octets());
    frame[38..42].copy_from_slice(&vip.octets());
    frame
}

/// The sender MAC of an ARP reply to `client_ip` about `vip`, if `frame` is one.
fn arp_reply_sender(frame: &[u8], client_ip: Ipv4Addr, vip: Ipv4Addr) -> Option<[u8; 6]> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let arp = frame.get(14..42)?;
    let reply = arp[6..8] == [0, 2];
    if ethertype != ETH_P_ARP || !reply || arp[14..18] != vip.octets() {
        return None;
    }
    if arp[24..28] != client_ip.octets() {
        return None;
    }
    arp[8..14].try_into().ok()
}

/// The client's ARP probe and the namespaces' address dumps, one slot at a time.
struct ArpProber {
    socket: Socket,
    netlink: Vec<NetlinkSocket>,
    request: [u8; 42],
    destination: SockAddr,
    host_macs: Vec<[u8; 6]>,
    client_ip: Ipv4Addr,
    vip: Ipv4Addr,
}

impl ArpProber {
    fn run(self, epoch: Instant, stop: &AtomicBool, out: &Mutex<Vec<Sample>>) {
        raise_priority();
        let mut slot_start = Instant::now();
        let mut sequence = 0u32;
        // A dump that fails (times out) leaves that namespace's last reading.
        let mut holders = 0u8;
        let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 1600];
        while !stop.load(Ordering::Relaxed) {
            for (index, socket) in self.netlink.iter().enumerate() {
                sequence = sequence.wrapping_add(1);
                match holds(socket, sequence, self.vip) {
                    Ok(true) => holders |= 1 << index,
                    Ok(false) => holders &= !(1 << index),
                    Err(_) => {}
                }
            }
            let mut sample = Sample {
                at: slot_start.saturating_duration_since(epoch),
                answering: 0,
                stranger: false,
                holders,
            };
            let _ = self.socket.send_to(&self.request, &self.destination);
            let slot_end = slot_start + SAMPLE_PERIOD;
            loop {
                let left = slot_end.saturating_duration_since(Instant::now());
                // SO_RCVTIMEO counts whole microseconds, and zero means no
                // timeout at all: a remainder under a microsecond would wait
                // for the next ARP frame, which no probe asks for any more.
                if left < Duration::from_micros(1)
                    || self.socket.set_read_timeout(Some(left)).is_err()
                {
                    break;
                }
                let Ok(length) = self.socket.recv(&mut buffer) else {
                    continue;
                };
                // SAFETY: recv initialised the first `length` bytes.
                let frame: Vec<u8> = buffer[..length]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                if let Some(mac) = arp_reply_sender(&frame, self.client_ip, self.vip) {
                    match self.host_macs.iter().position(|m| *m == mac) {
                        Some(index) => sample.answering |= 1 << index,
                        None => sample.stranger = true,
                    }
                }
            }
            if let Ok(mut samples) = out.lock() {
                // A reply that came a slot late still answers: it counts for
                // the slot before as well, so `nobody` means two probes in a
                // row went unanswered (gaps read up to 10 ms short, overlaps
                // up to 10 ms long).
                if let Some(previous) = samples.last_mut() {
                    previous.answering |= sample.answering;
                    previous.stranger |= sample.stranger;
                }
                samples.push(sample);
            }
            // Keep the slots on a 10 ms grid; after a stall, start afresh.
            slot_start = if Instant::now() > slot_end + SAMPLE_PERIOD {
                Instant::now()
            } else {
                slot_end
            };
        }
    }
}

/// Whether the namespace of `socket` has `vip` on any interface.
fn holds(socket: &NetlinkSocket, sequence: u32, vip: Ipv4Addr) -> Result<bool, LabError> {
    let mut request = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetAddress(AddressMessage::default())),
    );
    request.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    request.header.sequence_number = sequence;
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    let mut found = false;
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buffer[offset..size])
                .map_err(|e| LabError::Step(format!("netlink answer: {e}")))?;
            let length = message.header.length as usize;
            if message.header.sequence_number == sequence {
                match message.payload {
                    NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => return Ok(found),
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(address)) => {
                        found |= address.attributes.iter().any(
                            |a| matches!(a, AddressAttribute::Local(IpAddr::V4(ip)) if *ip == vip),
                        );
                    }
                    _ => {}
                }
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn run_tap(socket: Socket, epoch: Instant, stop: &AtomicBool, out: &Mutex<Vec<Advert>>) {
    raise_priority();
    let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 1600];
    while !stop.load(Ordering::Relaxed) {
        let Ok(length) = socket.recv(&mut buffer) else {
            continue;
        };
        let at = epoch.elapsed();
        // SAFETY: recv initialised the first `length` bytes.
        let frame: Vec<u8> = buffer[..length.min(64)]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        if let Some(advert) = parse_advert(&frame, at) {
            if let Ok(mut adverts) = out.lock() {
                adverts.push(advert);
            }
        }
    }
}

/// A VRRP advert (IPv4, protocol 112) in an Ethernet frame.
fn parse_advert(frame: &[u8], at: Duration) -> Option<Advert> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    if ethertype != ETH_P_IP || *ip.get(9)? != crate::wire::vrrp::IP_PROTOCOL {
        return None;
    }
    let header = usize::from(ip.first()? & 0x0f) * 4;
    let from: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let vrrp = ip.get(header..)?;
    Some(Advert {
        at,
        from: Ipv4Addr::from(from),
        vrid: *vrrp.get(1)?,
        priority: *vrrp.get(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x64];
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

    #[test]
    fn a_reply_to_our_request_names_its_sender() {
        let request = arp_request(MAC, CLIENT, VIP);
        assert_eq!(arp_reply_sender(&request, CLIENT, VIP), None, "a request");
        // The reply a host at 02:..:0b sends: op 2, sender = VIP, target = us.
        let host = [2, 0, 0, 0, 0, 0x0b];
        let mut reply = [0u8; 42];
        reply[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
        reply[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
        reply[22..28].copy_from_slice(&host);
        reply[28..32].copy_from_slice(&VIP.octets());
        reply[32..38].copy_from_slice(&MAC);
        reply[38..42].copy_from_slice(&CLIENT.octets());
        assert_eq!(arp_reply_sender(&reply, CLIENT, VIP), Some(host));
        // About another address, or to another asker: not an answer for us.
        assert_eq!(
            arp_reply_sender(&reply, CLIENT, Ipv4Addr::new(192, 0, 2, 51)),
            None
        );
        assert_eq!(
            arp_reply_sender(&reply, Ipv4Addr::new(192, 0, 2, 9), VIP),
            None
        );
        assert_eq!(arp_reply_sender(&reply[..30], CLIENT, VIP), None);
    }

    #[test]
    fn adverts_are_read_from_ethernet_frames() {
        let mut frame = vec![0u8; 14 + 20 + 12];
        frame[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
        frame[14] = 0x45;
        frame[14 + 9] = 112;
        frame[14 + 12..14 + 16].copy_from_slice(&[192, 0, 2, 11]);
        frame[34 + 1] = 51;
        frame[34 + 2] = 150;
        let at = Duration::from_millis(7);
        assert_eq!(
            parse_advert(&frame, at),
            Some(Advert {
                at,
                from: Ipv4Addr::new(192, 0, 2, 11),
                vrid: 51,
                priority: 150
            })
        );
        frame[14 + 9] = 17;
        assert_eq!(parse_advert(&frame, at), None);
        assert_eq!(parse_advert(&frame[..20], at), None);
    }
}
