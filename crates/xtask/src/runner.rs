//! Runs the steps of a task from the workspace root, timing each and stopping at the first
//! failure.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
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
    /// `PATH` for every command, when it differs from ours.
    path: Option<OsString>,
    records: Vec<Record>,
}

impl Runner {
    pub(crate) fn new(root: PathBuf, cargo: OsString) -> Self {
        Runner { root, cargo, path: None, records: Vec::new() }
    }

    /// The workspace root, where every command starts.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Gives every command from now on this `PATH` (programs are looked up in it too).
    pub(crate) fn set_path(&mut self, path: OsString) {
        self.path = Some(path);
    }

    /// A command for `program <args>` from the workspace root, with the runner's `PATH`; add
    /// environment or another directory, then run it as a step with [`Runner::step`].
    pub(crate) fn program(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
        self.command(program.as_ref().to_owned(), args)
    }

    /// `cargo <args>` as [`Runner::program`] makes it.
    pub(crate) fn cargo_command(&self, args: &[&str]) -> Command {
        self.command(self.cargo.clone(), args)
    }

    /// Runs `command` as the step `step`, printing it as a shell line: the variables it sets
    /// (but `PATH`), the program's name and the arguments.
    pub(crate) fn step(&mut self, step: &str, command: Command) -> Result<(), Failure> {
        let program = Path::new(command.get_program()).file_name().unwrap_or(command.get_program());
        let program = program.to_string_lossy().into_owned();
        let mut words: Vec<String> = command
            .get_envs()
            .filter(|(key, _)| *key != "PATH")
            .filter_map(|(key, value)| Some(format!("{}={}", key.to_string_lossy(), value?.to_string_lossy())))
            .collect();
        words.push(program.clone());
        words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
        if let Some(dir) = command.get_current_dir().filter(|dir| *dir != self.root) {
            let dir = dir.strip_prefix(&self.root).unwrap_or(dir);
            words.push(format!("(in {})", dir.display()));
        }
        self.run(step, &program, &words.join(" "), command)
    }

    /// The standard output of `program <args>` when it starts and succeeds; `None` otherwise
    /// (a missing tool is an answer here, not a failure).
    pub(crate) fn probe(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
        let output = self.program(program, args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `cargo <args>` as the step `step`.
    pub(crate) fn cargo(&mut self, step: &str, args: &[&str]) -> Result<(), Failure> {
        let command = self.command(self.cargo.clone(), args);
        self.run(step, "cargo", &format!("cargo {}", args.join(" ")), command)
    }

    /// Runs `rustup <args>` as the step `step`.
    pub(crate) fn rustup(&mut self, step: &str, args: &[&str]) -> Result<(), Failure> {
        let command = self.command("rustup".into(), args);
        self.run(step, "rustup", &format!("rustup {}", args.join(" ")), command)
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
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        command
    }

    /// Runs `command` (shown as `line`, started from `program`) as the step `step`.
    fn run(&mut self, step: &str, program: &str, line: &str, mut command: Command) -> Result<(), Failure> {
        eprintln!("==> {step}: {line}");
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
