//! The tools the browser page needs, each installed only when it is missing or at another
//! version than the one pinned here (a warm machine spends seconds, a cold one ~14 minutes).
//! Only package registries are reachable, so nothing is downloaded any other way: Trunk
//! runs offline and finds every tool on `PATH` (see `Trunk.toml`).

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::runner::{Failure, Runner};

/// The browser's target.
pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Trunk 0.22 needs a newer rustc than ours.
const TRUNK_VERSION: &str = "0.21.14";
/// Must equal the `wasm-bindgen` crate pin in `crates/web/Cargo.toml` and `Trunk.toml`'s.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// `wasm-opt` from npm's binaryen (Debian's is too old: its output fails to load).
const WASM_OPT_VERSION: &str = "version_132";
/// playwright-core's oldest Node.
const NODE_MAJOR: u32 = 20;
/// The npm project of the browser tests, which also brings `wasm-opt`.
pub(crate) const E2E_DIR: &str = "e2e";
/// Where Debian's packages put the browser and its WebDriver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn say(step: &str, what: &str) {
    eprintln!("==> {step}: {what}");
}

/// Cargo's home, where `cargo install` puts binaries under `bin`.
fn cargo_home() -> PathBuf {
    match env::var_os("CARGO_HOME").filter(|home| !home.is_empty()) {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(env::var_os("HOME").unwrap_or_default()).join(".cargo"),
    }
}

/// `PATH` for every command: the e2e project's `node_modules/.bin` (for `wasm-opt`) and
/// cargo's `bin` (for what `cargo install` just put there) before `path`.
fn tool_path(root: &Path, cargo_home: &Path, path: Option<&OsStr>) -> OsString {
    let first = [root.join(E2E_DIR).join("node_modules").join(".bin"), cargo_home.join("bin")];
    let rest = path.map(env::split_paths).into_iter().flatten();
    env::join_paths(first.into_iter().chain(rest)).expect("tool directories hold no path separator")
}

/// Makes the runner's commands find the tools this module installs.
pub(crate) fn use_tool_path(run: &mut Runner) {
    let path = tool_path(run.root(), &cargo_home(), env::var_os("PATH").as_deref());
    run.set_path(path);
}

/// The targets in `wanted` absent from `rustup target list --installed`'s output.
pub(crate) fn missing_targets<'a>(installed: &str, wanted: &[&'a str]) -> Vec<&'a str> {
    wanted.iter().copied().filter(|target| !installed.lines().any(|line| line.trim() == *target)).collect()
}

/// Adds the rustup targets in `wanted` that are missing.
pub(crate) fn ensure_targets(run: &mut Runner, wanted: &[&str]) -> Result<(), Failure> {
    let installed = run.rustup_output(&["target", "list", "--installed"])?;
    let missing = missing_targets(&installed, wanted);
    if missing.is_empty() {
        say("targets", &format!("{} installed", wanted.join(", ")));
        return Ok(());
    }
    let mut args = vec!["target", "add"];
    args.extend(missing);
    run.rustup("add targets", &args)
}

/// Whether `--version` output names `program` at exactly `version` (`trunk 0.21.14`).
fn reports_version(output: &str, program: &str, version: &str) -> bool {
    output.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some(program) && words.next() == Some(version)
    })
}

/// The binaries of `binaries` that do not answer `--version` with `version`.
fn outdated<'a>(run: &Runner, binaries: &[&'a str], version: &str) -> Vec<&'a str> {
    binaries
        .iter()
        .copied()
        .filter(|bin| !run.probe(bin, &["--version"]).is_some_and(|out| reports_version(&out, bin, version)))
        .collect()
}

/// `cargo install <krate> --version <version>` unless each of `binaries` already reports
/// that version.
pub(crate) fn ensure_cargo_install(
    run: &mut Runner,
    krate: &str,
    version: &str,
    locked: bool,
    binaries: &[&str],
    cold: &str,
) -> Result<(), Failure> {
    let missing = outdated(run, binaries, version);
    if missing.is_empty() {
        say(krate, &format!("{} {version} installed", binaries.join(" and ")));
        return Ok(());
    }
    say(
        krate,
        &format!("{} not at {version}: installing {krate} {version} ({cold} on a cold machine)", missing.join(", ")),
    );
    let mut args = vec!["install", krate, "--version", version];
    if locked {
        args.push("--locked");
    }
    run.cargo(&format!("install {krate}"), &args)?;
    let still = outdated(run, binaries, version);
    if !still.is_empty() {
        return Err(Failure::Config(format!(
            "after `cargo install {krate}`, {} still does not report {version}: is another copy earlier on PATH?",
            still.join(", ")
        )));
    }
    Ok(())
}

/// The major version in `node --version`'s output (`v20.20.2`).
fn node_major(output: &str) -> Option<u32> {
    output.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Whether the npm project needs `npm ci`: never installed, or installed before the lock file
/// last changed.
fn npm_ci_needed(lock: Option<SystemTime>, installed: Option<SystemTime>) -> bool {
    match (lock, installed) {
        (Some(lock), Some(installed)) => installed < lock,
        // Without a lock file `npm ci` says what is wrong.
        _ => true,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Node.js and the e2e project's packages (playwright-core, and binaryen's `wasm-opt`).
fn ensure_node_modules(run: &mut Runner) -> Result<(), Failure> {
    let node = run.probe("node", &["--version"]);
    match node.as_deref().and_then(node_major) {
        Some(major) if major >= NODE_MAJOR => {}
        found => {
            let found = found.map_or("no Node.js".to_owned(), |major| format!("Node.js {major}"));
            return Err(Failure::Config(format!(
                "the browser tests and wasm-opt need Node.js {NODE_MAJOR} or newer with npm, found {found}: install them and run again"
            )));
        }
    }
    if run.probe("npm", &["--version"]).is_none() {
        return Err(Failure::Config("npm is missing: install it beside Node.js and run again".into()));
    }

    let dir = run.root().join(E2E_DIR);
    let modules = dir.join("node_modules");
    // npm writes node_modules/.package-lock.json on every install.
    let installed = modified(&modules.join(".package-lock.json")).or_else(|| modified(&modules));
    if npm_ci_needed(modified(&dir.join("package-lock.json")), installed) {
        say("npm ci", &format!("{E2E_DIR}/node_modules is missing or older than package-lock.json: installing"));
        let mut npm = run.program("npm", &["ci", "--no-audit", "--no-fund"]);
        npm.current_dir(&dir);
        run.step("npm ci", npm)?;
    } else {
        say("npm ci", &format!("{E2E_DIR}/node_modules matches package-lock.json"));
    }

    let wasm_opt = modules.join(".bin").join("wasm-opt");
    match run.probe(&wasm_opt, &["--version"]) {
        Some(out) if out.contains(WASM_OPT_VERSION) => Ok(()),
        out => Err(Failure::Config(format!(
            "{} should report {WASM_OPT_VERSION}, got {:?}: check binaryen in {E2E_DIR}/package.json",
            wasm_opt.display(),
            out.unwrap_or_default().trim()
        ))),
    }
}

/// What building and serving the page needs: the wasm target, Trunk, wasm-bindgen (with its
/// test runner) and the npm packages (wasm-opt, Playwright).
pub(crate) fn ensure_page_tools(run: &mut Runner) -> Result<(), Failure> {
    ensure_targets(run, &[WASM_TARGET])?;
    ensure_cargo_install(run, "trunk", TRUNK_VERSION, true, &["trunk"], "~8 min")?;
    // Its lock file names a crate version the registry lacks: no --locked.
    ensure_cargo_install(
        run,
        "wasm-bindgen-cli",
        WASM_BINDGEN_VERSION,
        false,
        &["wasm-bindgen", "wasm-bindgen-test-runner"],
        "~5 min",
    )?;
    ensure_node_modules(run)
}

/// The user id in `/proc/self/status`'s `Uid:` line (the real one, first).
fn uid_from_status(status: &str) -> Option<u32> {
    status.lines().find_map(|line| line.strip_prefix("Uid:")?.split_whitespace().next()?.parse().ok())
}

fn is_root(run: &Runner) -> bool {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| uid_from_status(&status))
        .or_else(|| run.probe("id", &["-u"])?.trim().parse().ok());
    uid == Some(0)
}

/// Chromium and chromedriver, from Debian's packages when missing.
pub(crate) fn ensure_browser(run: &mut Runner) -> Result<(), Failure> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        let driver = run.probe(CHROMEDRIVER, &["--version"]).unwrap_or_default();
        let driver = driver.split(" (").next().unwrap_or_default().trim();
        say("chromium", &format!("{CHROMIUM} and {CHROMEDRIVER} installed ({driver})"));
        return Ok(());
    }
    let have_apt = run.probe("apt-get", &["--version"]).is_some();
    if !have_apt || !is_root(run) {
        let why = if have_apt { "not running as root" } else { "apt-get is not available" };
        return Err(Failure::Config(format!(
            "{} missing and {why}: install Chromium and its WebDriver so that {CHROMIUM} and {CHROMEDRIVER} exist \
             (on Debian: `sudo apt-get install chromium chromium-driver`), then run again",
            missing.join(" and ")
        )));
    }
    say(
        "chromium",
        &format!("{} missing: installing Debian's chromium and chromium-driver (~25 s)", missing.join(" and ")),
    );
    let update = run.program("apt-get", &["update"]);
    run.step("apt-get update", update)?;
    let mut install = run.program("apt-get", &["install", "-y", "chromium", "chromium-driver"]);
    install.env("DEBIAN_FRONTEND", "noninteractive");
    run.step("install chromium", install)?;
    match [CHROMIUM, CHROMEDRIVER].into_iter().find(|p| !Path::new(p).exists()) {
        Some(absent) => {
            Err(Failure::Config(format!("apt-get installed chromium and chromium-driver but {absent} is missing")))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_program_and_exact_version() {
        assert!(reports_version("trunk 0.21.14\n", "trunk", "0.21.14"));
        assert!(reports_version("wasm-bindgen 0.2.130", "wasm-bindgen", "0.2.130"));
        assert!(!reports_version("trunk 0.21.1\n", "trunk", "0.21.14"));
        assert!(!reports_version("trunk 0.22.0\n", "trunk", "0.21.14"));
        assert!(!reports_version("wasm-bindgen-test-runner 0.2.130", "wasm-bindgen", "0.2.130"));
        assert!(!reports_version("", "trunk", "0.21.14"));
    }

    #[test]
    fn node_major_reads_the_version_line() {
        assert_eq!(node_major("v20.20.2\n"), Some(20));
        assert_eq!(node_major("v18.19.0"), Some(18));
        assert_eq!(node_major("20.1.0"), None);
        assert_eq!(node_major(""), None);
    }

    #[test]
    fn npm_ci_runs_when_missing_or_older_than_the_lock() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let later = t + std::time::Duration::from_secs(1);
        assert!(npm_ci_needed(Some(t), None));
        assert!(npm_ci_needed(Some(later), Some(t)));
        assert!(!npm_ci_needed(Some(t), Some(later)));
        assert!(!npm_ci_needed(Some(t), Some(t)));
        assert!(npm_ci_needed(None, Some(t)));
    }

    #[test]
    fn uid_is_the_first_number_of_the_uid_line() {
        assert_eq!(uid_from_status("Name:\txtask\nUid:\t0\t0\t0\t0\nGid:\t0\n"), Some(0));
        assert_eq!(uid_from_status("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(uid_from_status("Name:\txtask\n"), None);
    }

    #[test]
    fn tool_path_puts_node_bin_and_cargo_bin_first() {
        let path = tool_path(Path::new("/w"), Path::new("/h/.cargo"), Some(OsStr::new("/usr/bin:/bin")));
        let dirs: Vec<PathBuf> = env::split_paths(&path).collect();
        let want: Vec<PathBuf> =
            ["/w/e2e/node_modules/.bin", "/h/.cargo/bin", "/usr/bin", "/bin"].iter().map(PathBuf::from).collect();
        assert_eq!(dirs, want);
        let bare = tool_path(Path::new("/w"), Path::new("/h/.cargo"), None);
        assert_eq!(env::split_paths(&bare).count(), 2);
    }

    #[test]
    fn missing_targets_compares_whole_lines() {
        let wanted = ["thumbv7m-none-eabi", WASM_TARGET];
        let installed = "thumbv7m-none-eabi\nx86_64-unknown-linux-gnu\n";
        assert_eq!(missing_targets(installed, &wanted), vec![WASM_TARGET]);
        assert!(missing_targets("thumbv7m-none-eabi\nwasm32-unknown-unknown\n", &wanted).is_empty());
        assert_eq!(missing_targets("", &wanted), wanted.to_vec());
    }
}
