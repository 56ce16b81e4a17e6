//! `alchemiser halt --stage S --reason "..."`, `alchemiser halt --stage S --history` and
//! `alchemiser resume --stage S`: the stage's kill switch (its SSM parameter), flipped in
//! seconds without a deploy. Execution reads it before every order (within 5 s of a change).

use std::process::ExitCode;

use alchemiser_operations::{HaltSwitch, Stage};
use chrono::Utc;

/// Arguments of `halt`.
#[derive(Debug, clap::Args)]
pub struct HaltArgs {
    /// The stage to halt (its switch is /alchemiser/STAGE/trading-halt).
    #[arg(long)]
    stage: Stage,
    /// Why: shown in every plan refused while halted, and kept in the switch's history.
    #[arg(long, required_unless_present = "history")]
    reason: Option<String>,
    /// Halt nothing: print the switch now and every version SSM keeps of it (who, when, why).
    #[arg(long, conflicts_with = "reason")]
    history: bool,
}

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The stage to resume.
    #[arg(long)]
    stage: Stage,
}

/// Halts the stage, or prints the switch's history.
pub async fn halt(args: HaltArgs) -> anyhow::Result<ExitCode> {
    let sdk = super::aws_config().await?;
    let switch = HaltSwitch::new(&sdk, args.stage.clone());
    if args.history {
        println!(
            "{}: {}",
            switch.parameter(),
            switch.current().await?.describe()
        );
        for version in switch.history().await? {
            println!("  {}", version.line());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let reason = args.reason.unwrap_or_default();
    let state = switch.halt(&reason, Utc::now()).await?;
    println!(
        "stage {} {}; execution places no order from within 5 s; resume with `alchemiser resume --stage {}`",
        args.stage,
        state.describe(),
        args.stage
    );
    Ok(ExitCode::SUCCESS)
}

/// Resumes the stage.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let sdk = super::aws_config().await?;
    let switch = HaltSwitch::new(&sdk, args.stage.clone());
    let before = switch.current().await?;
    switch.resume().await?;
    let by = switch.caller().await?;
    println!(
        "stage {} resumed by {by} (was {}); the next plan trades",
        args.stage,
        before.describe()
    );
    Ok(ExitCode::SUCCESS)
}
