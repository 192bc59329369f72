//! The maintenance set kept in the runtime directory, so that an instance put
//! in maintenance stays there across a restart of the agent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// The file's content: `{"instances": [names]}`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MaintenanceFile {
    instances: BTreeSet<String>,
}

/// The file holding the names of the instances in maintenance mode.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("maintenance.json")
}

/// Reads the maintenance set; a missing or unreadable file means none.
pub fn load(runtime_dir: &Path) -> BTreeSet<String> {
    let path = path(runtime_dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return BTreeSet::new();
    };
    match serde_json::from_str::<MaintenanceFile>(&text) {
        Ok(file) => file.instances,
        Err(e) => {
            warn!("ignoring {}: {e}", path.display());
            BTreeSet::new()
        }
    }
}

/// Writes the maintenance set atomically.
pub fn save(runtime_dir: &Path, names: &[String]) -> std::io::Result<()> {
    let path = path(runtime_dir);
    let file = MaintenanceFile {
        instances: names.iter().cloned().collect(),
    };
    let text = serde_json::to_string(&file).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_survives_a_round_trip_and_garbage_reads_as_none() {
        let dir = std::env::temp_dir().join(format!("twinstar-maint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).is_empty(), "no file: none");
        save(&dir, &["web".into(), "db".into()]).unwrap();
        let text = std::fs::read_to_string(path(&dir)).unwrap();
        assert_eq!(text, r#"{"instances":["db","web"]}"#);
        assert_eq!(
            load(&dir).into_iter().collect::<Vec<_>>(),
            vec!["db", "web"]
        );
        std::fs::write(path(&dir), "not json").unwrap();
        assert!(load(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
