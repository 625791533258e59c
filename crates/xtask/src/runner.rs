//! Runs the steps of a task from the workspace root, timing each and stopping at the first
//! failure.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why a task stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A step's command ran and exited unsuccessfully.
    Exit { step: String, status: ExitStatus },
    /// A step's command could not be started.
    Spawn { step: String, program: String, error: io::Error },
    /// The task was misconfigured before any step ran.
    Config(String),
}

impl Failure {
    /// The failed command's exit code, when it exited with one.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        match self {
            Failure::Exit { status, .. } => status.code(),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Exit { step, status } => write!(f, "step `{step}` failed ({status})"),
            Failure::Spawn { step, program, error } => write!(f, "step `{step}` could not start `{program}`: {error}"),
            Failure::Config(msg) => f.write_str(msg),
        }
    }
}

struct Record {
    step: String,
    took: Duration,
    ok: bool,
}

pub(crate) struct Runner {
    root: PathBuf,
    cargo: OsString,
    records: Vec<Record>,
}

impl Runner {
    pub(crate) fn new(root: PathBuf, cargo: OsString) -> Self {
        Runner { root, cargo, records: Vec::new() }
    }

    /// Runs `cargo <args>` as the step `step`.
    pub(crate) fn cargo(&mut self, step: &str, args: &[&str]) -> Result<(), Failure> {
        let command = self.command(self.cargo.clone(), args);
        self.run(step, "cargo", args, command)
    }

    /// Runs `rustup <args>` as the step `step`.
    pub(crate) fn rustup(&mut self, step: &str, args: &[&str]) -> Result<(), Failure> {
        let command = self.command("rustup".into(), args);
        self.run(step, "rustup", args, command)
    }

    /// The standard output of `rustup <args>`, which must succeed.
    pub(crate) fn rustup_output(&self, args: &[&str]) -> Result<String, Failure> {
        let step = format!("rustup {}", args.join(" "));
        let output = self
            .command("rustup".into(), args)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| Failure::Spawn { step: step.clone(), program: "rustup".into(), error })?;
        if !output.status.success() {
            return Err(Failure::Exit { step, status: output.status });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Adds the rustup component `component` unless `cargo <subcommand> --version` works.
    pub(crate) fn ensure_cargo_tool(&mut self, subcommand: &str, component: &str) -> Result<(), Failure> {
        let present = self
            .command(self.cargo.clone(), &[subcommand, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if present {
            return Ok(());
        }
        self.rustup(&format!("add {component}"), &["component", "add", component])
    }

    /// Prints each recorded step with its wall time, then the total.
    pub(crate) fn print_summary(&self) {
        if self.records.is_empty() {
            return;
        }
        let width = self.records.iter().map(|r| r.step.len()).max().unwrap_or(0);
        let mut total = Duration::ZERO;
        eprintln!("==> summary");
        for record in &self.records {
            total += record.took;
            let outcome = if record.ok { "ok" } else { "FAILED" };
            eprintln!("    {:width$}  {outcome:6}  {:>8}", record.step, format_duration(record.took));
        }
        eprintln!("    {:width$}  {:6}  {:>8}", "total", "", format_duration(total));
    }

    fn command(&self, program: OsString, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args).current_dir(&self.root);
        command
    }

    fn run(&mut self, step: &str, program: &str, args: &[&str], mut command: Command) -> Result<(), Failure> {
        eprintln!("==> {step}: {program} {}", args.join(" "));
        let start = Instant::now();
        let status = command.status();
        let took = start.elapsed();
        let result = match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failure::Exit { step: step.into(), status }),
            Err(error) => Err(Failure::Spawn { step: step.into(), program: program.into(), error }),
        };
        self.records.push(Record { step: step.into(), took, ok: result.is_ok() });
        result
    }
}

/// `12.3s` under a minute, `2m 05.0s` from one on, rounded to tenths of a second.
fn format_duration(took: Duration) -> String {
    let tenths = (took.as_millis() + 50) / 100;
    let (minutes, tenths) = (tenths / 600, tenths % 600);
    let (secs, tenth) = (tenths / 10, tenths % 10);
    if minutes == 0 {
        format!("{secs}.{tenth}s")
    } else {
        format!("{minutes}m {secs:02}.{tenth}s")
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_seconds_then_minutes() {
        assert_eq!(format_duration(Duration::from_millis(250)), "0.3s");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_millis(125_000)), "2m 05.0s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m 00.0s");
        assert_eq!(format_duration(Duration::from_millis(59_970)), "1m 00.0s");
    }
}
