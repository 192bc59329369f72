//! From tracked-object results to what the protocol core needs: each instance's
//! effective priority and whether it must be in Fault, with the reasons, for
//! status and logs. Pure: the event loop owns the inputs and feeds the outputs
//! to the state machines as `PriorityChanged` and `FaultSet` / `FaultCleared`.

use std::collections::HashMap;
use std::time::Instant;

use crate::config::{CheckKind, Config, Instance};

/// What is currently known about one tracked object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    /// `None` until the first result is in (or rise/fall has not decided yet).
    pub up: Option<bool>,
    /// A file check's integer; 0 for other kinds.
    pub value: i64,
    /// A short description of the last result.
    pub detail: String,
    /// The last non-empty output line of a script.
    pub last_output: Option<String>,
    /// When `up` (or a file's value) last changed.
    pub since: Option<Instant>,
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState {
            up: None,
            value: 0,
            detail: "no result yet".into(),
            last_output: None,
            since: None,
        }
    }
}

/// One instance's health, as computed from its own tracked objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The effective priority: base plus weights, clamped to 1..=254; 255 stays.
    pub priority: u8,
    /// Why the priority differs from the base, e.g. `web/script down (-60)`.
    pub priority_reasons: Vec<String>,
    /// Why the instance must be in Fault; empty when it may take part.
    pub fault_reasons: Vec<String>,
}

/// An assessment as an instance keeps it once applied: the priority inline,
/// the reasons boxed, and only while there are any. Nearly every instance
/// has none, and inline the two empty lists took 48 bytes of each (some
/// 47 kB at a thousand instances on either host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedHealth {
    priority: u8,
    /// Priority reasons, then fault reasons; `None` when both are empty.
    reasons: Option<Box<(Vec<String>, Vec<String>)>>,
}

impl AppliedHealth {
    /// Healthy at `priority`, with no reason to tell.
    pub fn new(priority: u8) -> Self {
        AppliedHealth {
            priority,
            reasons: None,
        }
    }

    /// The effective priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Why the priority differs from the base.
    pub fn priority_reasons(&self) -> &[String] {
        self.reasons
            .as_deref()
            .map_or(&[], |(priority, _)| priority)
    }

    /// Why the instance must be in Fault; empty when it may take part.
    pub fn fault_reasons(&self) -> &[String] {
        self.reasons.as_deref().map_or(&[], |(_, fault)| fault)
    }

    /// Whether `assessment` says exactly this.
    pub fn matches(&self, assessment: &Assessment) -> bool {
        self.priority == assessment.priority
            && self.priority_reasons() == assessment.priority_reasons.as_slice()
            && self.fault_reasons() == assessment.fault_reasons.as_slice()
    }
}

impl From<Assessment> for AppliedHealth {
    fn from(assessment: Assessment) -> Self {
        let Assessment {
            priority,
            priority_reasons,
            fault_reasons,
        } = assessment;
        let reasons = (!priority_reasons.is_empty() || !fault_reasons.is_empty())
            .then(|| Box::new((priority_reasons, fault_reasons)));
        AppliedHealth { priority, reasons }
    }
}

/// Computes `instance`'s assessment. `link_up` is its own interface's state.
///
/// A weight-0 object that has not reported yet counts as failing: an instance
/// must not take the virtual IPs before it knows its service is healthy. A
/// weighted one that has not reported moves nothing yet.
pub fn assess(
    instance: &Instance,
    config: &Config,
    checks: &HashMap<String, CheckState>,
    link_up: bool,
) -> Assessment {
    let base = instance.priority.get();
    let mut delta: i64 = 0;
    let mut priority_reasons = Vec::new();
    let mut fault_reasons = Vec::new();
    if !link_up {
        fault_reasons.push(format!("interface {} is down", instance.interface));
    }
    let unknown = CheckState::default();
    for track in &instance.track {
        let state = checks.get(&track.check).unwrap_or(&unknown);
        let is_file = config
            .check(&track.check)
            .is_some_and(|c| matches!(c.kind, CheckKind::File(_)));
        let weight = i64::from(track.weight);
        match (is_file, track.weight, state.up) {
            (_, 0, Some(true)) if !is_file || state.value == 0 => {}
            (true, 0, Some(true)) => {
                fault_reasons.push(format!("{} reads {}", track.check, state.value))
            }
            (_, 0, Some(false)) => fault_reasons.push(format!("{} is down", track.check)),
            (_, 0, None) => fault_reasons.push(format!("{} has not reported yet", track.check)),
            (true, _, Some(true)) if state.value != 0 => {
                let moved = state.value.saturating_mul(weight);
                delta = delta.saturating_add(moved);
                priority_reasons.push(format!("{} reads {} ({moved:+})", track.check, state.value));
            }
            (true, _, _) => {}
            (false, w, Some(false)) if w < 0 => {
                delta += weight;
                priority_reasons.push(format!("{} down ({w:+})", track.check));
            }
            (false, w, Some(true)) if w > 0 => {
                delta += weight;
                priority_reasons.push(format!("{} up ({w:+})", track.check));
            }
            (false, _, _) => {}
        }
    }
    let priority = if base == 255 {
        if !priority_reasons.is_empty() {
            priority_reasons.push("ignored: an address owner's priority never moves".into());
        }
        255
    } else {
        // Clamped to 1..=254, so the conversion cannot fail.
        u8::try_from((i64::from(base) + delta).clamp(1, 254)).unwrap_or(1)
    };
    Assessment {
        priority,
        priority_reasons,
        fault_reasons,
    }
}

/// Couples the members of each sync group: every member gets the lowest
/// effective priority among them (owners keep 255), and a Fault in one member
/// is a Fault in all, so both hosts decide every member the same way.
pub fn couple_sync_groups(config: &Config, assessments: &mut HashMap<String, Assessment>) {
    for group in &config.sync_groups {
        let members: Vec<&String> = group
            .instances
            .iter()
            .filter(|m| assessments.contains_key(*m))
            .collect();
        let lowest = members
            .iter()
            .filter_map(|m| assessments.get(*m))
            .map(|a| a.priority)
            .min();
        let faulty: Vec<String> = members
            .iter()
            .filter(|m| {
                assessments
                    .get(**m)
                    .is_some_and(|a| !a.fault_reasons.is_empty())
            })
            .map(|m| m.to_string())
            .collect();
        for member in &members {
            let Some(a) = assessments.get_mut(*member) else {
                continue;
            };
            if let Some(lowest) = lowest {
                if a.priority != 255 && lowest < a.priority {
                    a.priority = lowest;
                    a.priority_reasons.push(format!(
                        "sync group {}: lowest member priority {lowest}",
                        group.name
                    ));
                }
            }
            for other in faulty.iter().filter(|o| o != member) {
                a.fault_reasons
                    .push(format!("sync group {}: {other} is in fault", group.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    const CONFIG: &str = "
checks:
  - name: svc
    script: 'true'
  - name: level
    file: /run/level
instances:
  - name: a
    interface: eth0
    vrid: 1
    priority: 150
    virtual_ips: [192.0.2.50/24]
    track:
      - check: svc
        weight: -60
  - name: b
    interface: eth0
    vrid: 2
    priority: 150
    virtual_ips: [192.0.2.51/24]
    track:
      - check: svc
        weight: 0
      - check: level
        weight: 0
  - name: c
    interface: eth0
    vrid: 3
    priority: 250
    virtual_ips: [192.0.2.52/24]
    track:
      - check: svc
        weight: 20
      - check: level
        weight: -10
sync_groups:
  - name: g
    instances: [a, c]
";

    fn config() -> Config {
        parse_str(CONFIG, "test.yaml").expect("valid test config")
    }

    fn states(svc: Option<bool>, level: Option<i64>) -> HashMap<String, CheckState> {
        let mut map = HashMap::new();
        map.insert(
            "svc".to_owned(),
            CheckState {
                up: svc,
                ..CheckState::default()
            },
        );
        if let Some(value) = level {
            map.insert(
                "level".to_owned(),
                CheckState {
                    up: Some(true),
                    value,
                    ..CheckState::default()
                },
            );
        }
        map
    }

    fn of(config: &Config, name: &str, checks: &HashMap<String, CheckState>) -> Assessment {
        let instance = config.instances.iter().find(|i| i.name == name).unwrap();
        assess(instance, config, checks, true)
    }

    #[test]
    fn negative_weight_applies_while_down() {
        let config = config();
        assert_eq!(of(&config, "a", &states(Some(true), None)).priority, 150);
        let down = of(&config, "a", &states(Some(false), None));
        assert_eq!(down.priority, 90);
        assert_eq!(down.priority_reasons, vec!["svc down (-60)"]);
        assert!(down.fault_reasons.is_empty());
    }

    #[test]
    fn weight_zero_faults_while_down_or_unknown() {
        let config = config();
        assert!(of(&config, "b", &states(Some(true), Some(0)))
            .fault_reasons
            .is_empty());
        assert_eq!(
            of(&config, "b", &states(Some(false), Some(0))).fault_reasons,
            vec!["svc is down"]
        );
        assert_eq!(
            of(&config, "b", &states(None, Some(0))).fault_reasons,
            vec!["svc has not reported yet"]
        );
        assert_eq!(
            of(&config, "b", &states(Some(true), Some(3))).fault_reasons,
            vec!["level reads 3"]
        );
    }

    #[test]
    fn positive_weights_and_file_values_clamp_to_254() {
        let config = config();
        let up = of(&config, "c", &states(Some(true), Some(-2)));
        assert_eq!(up.priority, 254, "250 + 20 + 20 clamps to 254");
        let low = of(&config, "c", &states(Some(false), Some(100)));
        assert_eq!(low.priority, 1, "250 - 1000 clamps to 1");
    }

    #[test]
    fn link_down_is_a_fault() {
        let config = config();
        let instance = &config.instances[0];
        let a = assess(instance, &config, &states(Some(true), None), false);
        assert_eq!(a.fault_reasons, vec!["interface eth0 is down"]);
    }

    #[test]
    fn sync_group_shares_lowest_priority_and_faults() {
        let config = config();
        let checks = states(Some(false), Some(0));
        let mut all: HashMap<String, Assessment> = config
            .instances
            .iter()
            .map(|i| (i.name.clone(), assess(i, &config, &checks, true)))
            .collect();
        all.get_mut("c").unwrap().fault_reasons.push("test".into());
        couple_sync_groups(&config, &mut all);
        assert_eq!(all["a"].priority, 90);
        assert_eq!(all["c"].priority, 90, "c follows a's lower priority");
        assert_eq!(all["a"].fault_reasons, vec!["sync group g: c is in fault"]);
        assert_eq!(
            all["a"].priority_reasons,
            vec!["svc down (-60)"],
            "already lowest"
        );
        assert_eq!(all["c"].fault_reasons, vec!["test"]);
        assert_eq!(all["b"].priority, 150, "b is in no group");
    }

    #[test]
    fn an_owner_keeps_255_and_says_why_only_when_something_moved() {
        let text = CONFIG.replace("priority: 250", "priority: 255");
        let config = parse_str(&text, "test.yaml").expect("valid");
        assert_eq!(
            of(&config, "c", &states(Some(false), Some(0))),
            Assessment {
                priority: 255,
                priority_reasons: Vec::new(),
                fault_reasons: Vec::new(),
            }
        );
        let moved = of(&config, "c", &states(Some(true), Some(0)));
        assert_eq!(moved.priority, 255);
        assert_eq!(
            moved.priority_reasons,
            vec![
                "svc up (+20)",
                "ignored: an address owner's priority never moves"
            ]
        );
        // In a sync group the owner keeps 255 too, and shares faults.
        let mut all: HashMap<String, Assessment> = config
            .instances
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    assess(i, &config, &states(Some(false), Some(0)), true),
                )
            })
            .collect();
        all.get_mut("a").unwrap().fault_reasons.push("test".into());
        couple_sync_groups(&config, &mut all);
        assert_eq!(all["c"].priority, 255);
        assert_eq!(all["c"].fault_reasons, vec!["sync group g: a is in fault"]);
        assert_eq!(all["a"].fault_reasons, vec!["test"]);
    }

    #[test]
    fn a_file_read_as_zero_moves_nothing() {
        let config = config();
        let zero = of(&config, "c", &states(Some(true), Some(0)));
        assert_eq!(zero.priority, 254);
        assert_eq!(zero.priority_reasons, vec!["svc up (+20)"]);
        let read = of(&config, "c", &states(Some(false), Some(3)));
        assert_eq!(read.priority, 220);
        assert_eq!(read.priority_reasons, vec!["level reads 3 (-30)"]);
    }
}
