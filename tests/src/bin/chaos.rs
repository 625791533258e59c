//! `chaos [--seconds N | --minutes N] [--seed S] [--commit paxos|classic] [--view-leaders N] [--partitions]`: the chaos suite on real processes (see
//! `ringside_tests::chaos`). Prints one summary line and exits non-zero if any check failed.
//! `cargo xtask chaos` builds the release binaries and runs it.

use std::process::ExitCode;
use std::time::Duration;

use ringside_tests::chaos::{self, Options};

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut number = || -> Result<u64, String> {
            let value = rest.next().ok_or(format!("`{flag}` needs a value"))?;
            value.parse().map_err(|_| format!("`{flag}` wants a whole number, got `{value}`"))
        };
        match flag.as_str() {
            "--seconds" => options.duration = Duration::from_secs(number()?.max(1)),
            "--minutes" => options.duration = Duration::from_secs(60 * number()?.max(1)),
            "--seed" => options.seed = number()?,
            "--partitions" => options.partitions = true,
            "--view-leaders" => {
                options.view_leaders = match number()? {
                    n @ 1..=7 => n as usize,
                    n => return Err(format!("`--view-leaders` wants 1 to 7 replicas, got {n}")),
                }
            }
            "--commit" => {
                options.commit = match rest.next().map(String::as_str) {
                    Some("paxos") => "paxos",
                    Some("classic") => "classic",
                    other => return Err(format!("`--commit` wants paxos or classic, got {other:?}")),
                }
            }
            other => {
                return Err(format!("unknown argument `{other}`: use --seconds N, --minutes N, --seed S, --commit P, --view-leaders N or --partitions"))
            }
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(reason) => {
            eprintln!("chaos: {reason}");
            return ExitCode::from(2);
        }
    };
    let summary = chaos::run(&options);
    println!("{summary}");
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
