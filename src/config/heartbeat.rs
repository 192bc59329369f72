//! `heartbeat`: the extra links an instance's adverts go out and are heard
//! on. Each is a Linux interface name other than the instance's own
//! `interface`, listed once; that its vrid is free on the link is checked with
//! the other virtual routers (see `parse.rs`, `check_unique`).

use super::reader::{interface_value, Checker};
use super::yaml::{Kind, Node, Pos};

/// Reads `heartbeat`: a list of interface names other than the instance's own
/// `interface`, none twice. Returns them with their positions.
pub fn links(ck: &mut Checker, node: &Node, interface: Option<&str>) -> Option<Vec<(String, Pos)>> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Str(s) => {
            ck.error(
                node.pos,
                format!("heartbeat must be a list of interfaces; write `- {s}` on the next line"),
            );
            return None;
        }
        other => {
            ck.error(
                node.pos,
                format!(
                    "heartbeat must be a list of interfaces such as `- eth1`, found {}",
                    other.type_name()
                ),
            );
            return None;
        }
    };
    let mut links: Vec<(String, Pos)> = Vec::new();
    let mut valid = true;
    for item in items {
        let Some(ifname) = interface_value(ck, item) else {
            valid = false;
            continue;
        };
        if Some(ifname.as_str()) == interface {
            ck.error(
                item.pos,
                format!(
                    "heartbeat link {ifname} is this instance's own interface, which carries \
                     its adverts already; list other interfaces here"
                ),
            );
            valid = false;
        } else if let Some((_, first)) = links.iter().find(|(l, _)| *l == ifname) {
            ck.error(
                item.pos,
                format!(
                    "heartbeat link {ifname} is already listed on line {}; list each link once",
                    first.line
                ),
            );
            valid = false;
        } else {
            links.push((ifname, item.pos));
        }
    }
    valid.then_some(links)
}
