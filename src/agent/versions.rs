//! Which VRRP versions an instance hears (its `version`), and the rule of RFC
//! 9568 §8.4.2 for one that speaks both while a VRRPv2 pair is migrated: a
//! router that sends both sends each advert twice, once per version, and a
//! Backup must not react to that pair twice. Pure: time is handed in.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::receive::DropReason;
use crate::config::VrrpVersion;
use crate::vrrp::AdvertInfo;
use crate::wire::vrrp::Version;

/// What an instance does with an advert of a given version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The state machine gets it.
    Process,
    /// A VRRPv2 advert from a router also heard in VRRPv3: the VRRPv3 twin
    /// already told the state machine (RFC 9568 §8.4.2), so this one is
    /// ignored. Not a drop: nothing is wrong with it.
    Twin,
}

/// The VRRPv3 adverts an instance in `both` mode heard lately, per sender,
/// so that the VRRPv2 twin of each can be ignored.
///
/// RFC 9568 §8.4.2: "a Backup Router SHOULD ignore VRRPv2 advertisements from
/// the current Active Router if it is also receiving VRRPv3 packets from it".
/// Ignoring them for every sender (not only the Master) keeps one reaction per
/// pair, and the VRRPv3 advert is the one that carries the exact interval
/// (centiseconds), so Master_Adver_Interval is learnt from it.
#[derive(Debug, Default)]
pub struct MixedVersions {
    v3_heard: Vec<V3Sighting>,
}

/// The last VRRPv3 advert from one sender.
#[derive(Debug, Clone, Copy)]
struct V3Sighting {
    source: IpAddr,
    at: Instant,
    interval: Duration,
    /// When this sender's run of VRRPv3 adverts began.
    since: Instant,
    /// When its last VRRPv2 twin came, if one did in this run.
    last_v2: Option<Instant>,
}

impl V3Sighting {
    /// How long this sighting shadows the sender's VRRPv2 adverts: one and a
    /// half of its intervals, so the twin of this advert and of the next are
    /// covered, while a sender that stops speaking VRRPv3 is heard in VRRPv2
    /// again after two intervals at most, well within the three of
    /// Master_Down_Interval (RFC 9568 §6.1).
    fn shadows_until(&self) -> Instant {
        self.at + self.interval + self.interval / 2
    }
}

impl MixedVersions {
    /// Decides whether an advert of `version` from `advert.source` reaches an
    /// instance configured with `spoken`: a version it does not speak is
    /// dropped as `version_mismatch`; in `both` mode a VRRPv2 advert whose
    /// VRRPv3 twin was heard is a [`Admission::Twin`].
    pub fn admit(
        &mut self,
        spoken: VrrpVersion,
        version: Version,
        advert: &AdvertInfo,
        now: Instant,
    ) -> Result<Admission, DropReason> {
        let speaks = match version {
            Version::V3 => spoken.speaks_v3(),
            Version::V2 => spoken.speaks_v2(),
        };
        if !speaks {
            return Err(DropReason::VersionMismatch);
        }
        if spoken != VrrpVersion::Both {
            return Ok(Admission::Process);
        }
        // Forget senders whose shadow has passed, so the list holds only the
        // routers speaking now (a handful on one segment).
        self.v3_heard.retain(|s| now < s.shadows_until());
        let heard = self.v3_heard.iter_mut().find(|s| s.source == advert.source);
        match (version, heard) {
            (Version::V3, Some(sighting)) => {
                sighting.at = now;
                sighting.interval = advert.interval;
            }
            (Version::V3, None) => self.v3_heard.push(V3Sighting {
                source: advert.source,
                at: now,
                interval: advert.interval,
                since: now,
                last_v2: None,
            }),
            (Version::V2, Some(sighting)) => {
                sighting.last_v2 = Some(now);
                return Ok(Admission::Twin);
            }
            (Version::V2, None) => {}
        }
        Ok(Admission::Process)
    }

    /// Whether `source` has sent VRRPv3 for three of its intervals without
    /// a VRRPv2 twin: RFC 9568 §8.4.2 lets a `both` router report such a
    /// Master, since the VRRPv2 routers of the segment cannot hear it (a
    /// configuration left at `version: 3` too early in a migration).
    pub fn sends_v3_only(&self, source: IpAddr, now: Instant) -> bool {
        self.v3_heard.iter().any(|s| {
            let window = s.interval * 3;
            s.source == source
                && now.saturating_duration_since(s.since) >= window
                && s.last_v2
                    .is_none_or(|at| now.saturating_duration_since(at) > window)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MASTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));

    fn advert(source: IpAddr, interval: Duration) -> AdvertInfo {
        AdvertInfo {
            priority: 150,
            interval,
            source,
        }
    }

    #[test]
    fn a_version_the_instance_does_not_speak_is_a_version_mismatch() {
        let now = Instant::now();
        let info = advert(MASTER, Duration::from_secs(1));
        let mut mixed = MixedVersions::default();
        let cases = [
            (VrrpVersion::V3, Version::V2),
            (VrrpVersion::V2, Version::V3),
        ];
        for (spoken, version) in cases {
            let got = mixed.admit(spoken, version, &info, now);
            assert_eq!(got, Err(DropReason::VersionMismatch));
        }
        assert_eq!(DropReason::VersionMismatch.as_str(), "version_mismatch");
        for (spoken, version) in [
            (VrrpVersion::V3, Version::V3),
            (VrrpVersion::V2, Version::V2),
        ] {
            let got = mixed.admit(spoken, version, &info, now);
            assert_eq!(got, Ok(Admission::Process));
        }
    }

    #[test]
    fn both_mode_ignores_the_vrrpv2_twin_of_a_vrrpv3_advert() {
        let start = Instant::now();
        let interval = Duration::from_secs(1);
        let mut mixed = MixedVersions::default();
        let both = VrrpVersion::Both;
        for round in 0..5 {
            let now = start + interval * round;
            let v3 = mixed.admit(both, Version::V3, &advert(MASTER, interval), now);
            assert_eq!(v3, Ok(Admission::Process));
            let v2 = mixed.admit(both, Version::V2, &advert(MASTER, interval), now);
            assert_eq!(v2, Ok(Admission::Twin), "round {round}");
        }
        // Another router's VRRPv2 adverts are its own, not a twin.
        let other = mixed.admit(both, Version::V2, &advert(OTHER, interval), start);
        assert_eq!(other, Ok(Admission::Process));
    }

    #[test]
    fn a_router_sending_vrrpv3_without_twins_is_reported_after_three_intervals() {
        let start = Instant::now();
        let interval = Duration::from_secs(1);
        let both = VrrpVersion::Both;
        let info = advert(MASTER, interval);
        let mut twins = MixedVersions::default();
        let mut alone = MixedVersions::default();
        for round in 0..6 {
            let now = start + interval * round;
            for mixed in [&mut twins, &mut alone] {
                mixed.admit(both, Version::V3, &info, now).unwrap();
            }
            twins.admit(both, Version::V2, &info, now).unwrap();
            assert!(!twins.sends_v3_only(MASTER, now), "round {round}");
            // Not before three intervals of VRRPv3 alone.
            assert_eq!(
                alone.sends_v3_only(MASTER, now),
                round >= 3,
                "round {round}"
            );
        }
        assert!(!alone.sends_v3_only(OTHER, start + interval * 5));
    }

    #[test]
    fn both_mode_hears_vrrpv2_again_soon_after_vrrpv3_stops() {
        let start = Instant::now();
        let interval = Duration::from_secs(1);
        let mut mixed = MixedVersions::default();
        let both = VrrpVersion::Both;
        let info = advert(MASTER, interval);
        assert_eq!(
            mixed.admit(both, Version::V3, &info, start),
            Ok(Admission::Process)
        );
        // The twin that follows the next (missing) VRRPv3 advert is still shadowed…
        let next = start + interval;
        assert_eq!(
            mixed.admit(both, Version::V2, &info, next),
            Ok(Admission::Twin)
        );
        // …but two intervals on, well before Master_Down_Interval (3 intervals
        // and the skew, RFC 9568 §6.1), the VRRPv2 advert counts again.
        let later = start + interval * 2;
        assert!(later < start + interval * 3);
        assert_eq!(
            mixed.admit(both, Version::V2, &info, later),
            Ok(Admission::Process)
        );
    }
}
