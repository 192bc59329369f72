//! Running one hook: the agent decides which hook runs when (strictly in
//! transition order, see `agent::hooks`); this runs it as `script_user`,
//! bounded by its timeout, and logs how it went.

use crate::agent::HookRun;
use crate::track::process::{self, ScriptOutcome};
use crate::track::run_as::RunAs;
use tracing::{info, warn};

/// Runs `run` to completion (or its timeout) and returns how it went.
pub async fn run_hook(run: &HookRun, run_as: &RunAs) -> ScriptOutcome {
    let args = &run.args;
    let kind = run.kind.as_str();
    let outcome = process::run(
        &run.hook.command,
        &args.argv(),
        &args.env(),
        run_as,
        run.hook.timeout,
    )
    .await;
    if outcome.result.is_success() {
        info!(name = %args.name, hook = kind, duration = ?outcome.duration, "hook done");
    } else {
        warn!(
            name = %args.name,
            hook = kind,
            command = %run.hook.command,
            "hook failed: {:?}{}",
            outcome.result,
            outcome.last_line.as_deref().map(|l| format!(" ({l})")).unwrap_or_default()
        );
    }
    outcome
}
