//! Every process cargo-xdp starts is started here: `Process` is the one
//! builder (program, arguments, environment, directory, pipes), and the
//! only place that runs one. Calls that may hang (adb, a device) run
//! limited: a time limit, a byte limit per output, a process group of
//! their own that is killed as a whole, and Ctrl-C.

use std::{
    ffi::OsStr,
    io::Read,
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// One process to start: a `std::process::Command` that only this module
/// runs.
pub struct Process {
    command: Command,
    /// What `envs` set, for `-v` (the rest is inherited, as cargo's is).
    env_set: Vec<String>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.command.fmt(f)
    }
}

/// As `-v` shows it: `` `K=V program arg ...` ``, words quoted for a POSIX
/// shell where they need it.
impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let words = std::iter::once(self.command.get_program())
            .chain(self.command.get_args())
            .map(|word| shell_word(&word.to_string_lossy()));
        let line: Vec<String> = self.env_set.iter().cloned().chain(words).collect();
        write!(f, "`{}`", line.join(" "))
    }
}

/// `word` as a POSIX shell reads it back: bare when it is plain, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl Process {
    pub fn new(program: impl AsRef<OsStr>) -> Process {
        Process {
            command: Command::new(program),
            env_set: Vec::new(),
        }
    }

    /// Says `Running `command`` with -v: call it right before running.
    pub fn echo(&mut self, shell: &crate::shell::Shell) -> &mut Process {
        shell.verbose_status("Running", &*self);
        self
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Process {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Process
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env_set.push(format!(
                "{}={}",
                key.as_ref().to_string_lossy(),
                shell_word(&value.as_ref().to_string_lossy())
            ));
            self.command.env(key, value);
        }
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Process {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Process {
        self.command.stdin(stdio);
        self
    }

    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Process {
        self.command.stdout(stdio);
        self
    }

    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Process {
        self.command.stderr(stdio);
        self
    }

    /// What would run, to look at (a stamp's key), never to run.
    pub fn as_command(&self) -> &Command {
        &self.command
    }

    pub fn get_program(&self) -> &OsStr {
        self.command.get_program()
    }

    /// Runs it to its end, its output captured.
    pub fn output(&mut self) -> std::io::Result<Output> {
        self.command.output()
    }

    /// Runs it to its end, its output where ours goes.
    pub fn status(&mut self) -> std::io::Result<ExitStatus> {
        self.command.status()
    }

    /// Starts it; the caller waits.
    pub fn spawn(&mut self) -> std::io::Result<Child> {
        self.command.spawn()
    }
}

/// `cargo metadata` as `command` describes it, run here and parsed (the
/// crate would start cargo itself).
pub fn cargo_metadata(
    command: &cargo_metadata::MetadataCommand,
) -> Result<cargo_metadata::Metadata> {
    let mut process = Process {
        command: command.cargo_command(),
        env_set: Vec::new(),
    };
    let out = process
        .output()
        .with_context(|| format!("cannot run {:?}", process.get_program()))?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` exited with an error: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout).context("`cargo metadata` printed no UTF-8")?;
    Ok(cargo_metadata::MetadataCommand::parse(text)?)
}

/// Set by Ctrl-C (SIGINT, SIGTERM) once a deploy asked for it: the call in
/// flight is stopped and the deploy cleans up before it exits.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on, Ctrl-C stops the current limited call instead of the process.
pub fn stop_calls_on_interrupt() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether a Ctrl-C stops a call: cleanup calls run to their end (or limit).
#[derive(Clone, Copy, PartialEq)]
pub enum Interrupt {
    Stops,
    Ignored,
}

/// How a limited call reaches its device, for the advice its errors give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Via {
    Adb,
    Ssh,
}

impl Via {
    fn tool(self) -> &'static str {
        match self {
            Via::Adb => "adb",
            Via::Ssh => "ssh",
        }
    }

    fn check(self) -> &'static str {
        match self {
            Via::Adb => "check the device and `adb devices`",
            Via::Ssh => "check the board answers `ssh` by hand",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Via::Adb => "--adb-timeout",
            Via::Ssh => "--ssh-timeout",
        }
    }
}

/// A call stopped at its time limit.
#[derive(Debug)]
pub struct TimedOut {
    pub what: String,
    pub limit: Duration,
    pub via: Via,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} did not finish within {} s, so cargo-xdp stopped waiting (its {} call); {}, or \
             allow more time with {} SECS",
            self.what,
            self.limit.as_secs(),
            self.via.tool(),
            self.via.check(),
            self.via.flag()
        )
    }
}

impl std::error::Error for TimedOut {}

/// What one process printed and how it ended.
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
}

/// A call stopped because it printed more than it may (a device that
/// sends without end).
#[derive(Debug)]
pub struct TooMuch {
    what: String,
    max: usize,
    via: Via,
}

impl std::fmt::Display for TooMuch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} sent more than {} MiB, far more than any real answer, so it was stopped; the \
             device (or what runs on it) is misbehaving: {}",
            self.what,
            self.max >> 20,
            self.via.check()
        )
    }
}

impl std::error::Error for TooMuch {}

/// One limited call to a device: what it is (for errors), its limits, the
/// way it goes, and the bytes its stdin gets (none: stdin is empty, as adb
/// and ssh would forward the caller's otherwise).
pub struct Call<'a> {
    pub what: &'a str,
    pub limit: Duration,
    pub max_output: usize,
    pub interrupt: Interrupt,
    pub via: Via,
    pub input: Option<Vec<u8>>,
}

/// Runs `command` for at most `limit`, reading at most `max_output` bytes
/// of each of its outputs (adb's call; `run_call` says the rest).
pub fn run_limited(
    process: Process,
    limit: Duration,
    max_output: usize,
    what: &str,
    interrupt: Interrupt,
) -> Result<Finished> {
    let call = Call {
        what,
        limit,
        max_output,
        interrupt,
        via: Via::Adb,
        input: None,
    };
    run_call(process, call)
}

/// Runs one call; past its time or byte limit, or on Ctrl-C (unless it
/// ignores that), kills the process and everything it started and says
/// which call it was.
pub fn run_call(process: Process, call: Call) -> Result<Finished> {
    let Call {
        what,
        limit,
        max_output,
        interrupt,
        via,
        input,
    } = call;
    let mut command = process.command;
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: killed as a whole, and a terminal's Ctrl-C
        // reaches us, not adb, so we decide what happens.
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // Written beside the wait: a call that stops reading ends it.
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
    }
    let overflow = std::sync::Arc::new(AtomicBool::new(false));
    let stdout = drain(child.stdout.take(), max_output, overflow.clone());
    let stderr = drain(child.stderr.take(), max_output, overflow.clone());
    let deadline = Instant::now() + limit;
    let status = loop {
        if overflow.load(Ordering::SeqCst) {
            kill_group(&mut child);
            return Err(TooMuch {
                what: what.to_string(),
                max: max_output,
                via,
            }
            .into());
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if interrupt == Interrupt::Stops && interrupted() {
            kill_group(&mut child);
            bail!("{what} was interrupted (Ctrl-C)");
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            return Err(TimedOut {
                what: what.to_string(),
                limit,
                via,
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Finished {
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        status,
    })
}

/// Reads `pipe` to its end, or until it gave more than `max` bytes: then
/// `overflow` is set (the caller stops the process) and reading stops.
fn drain(
    pipe: Option<impl Read + Send + 'static>,
    max: usize,
    overflow: std::sync::Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(max as u64 + 1).read_to_end(&mut bytes);
            if bytes.len() > max {
                overflow.store(true, Ordering::SeqCst);
            }
        }
        bytes
    })
}

fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) on the process group we made for this child.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_shows_the_command_as_a_shell_reads_it_back() {
        let mut cargo = Process::new("cargo");
        cargo.envs([("RUSTFLAGS", "-C debuginfo=0")]).args([
            "build",
            "--target-dir",
            "/t d",
            "it's",
        ]);
        assert_eq!(
            cargo.to_string(),
            r"`RUSTFLAGS='-C debuginfo=0' cargo build --target-dir '/t d' 'it'\''s'`"
        );
        assert_eq!(Process::new("x").arg("").to_string(), "`x ''`");
    }

    #[test]
    fn a_call_that_prints_without_end_is_stopped_at_its_byte_limit() {
        let started = Instant::now();
        let error = run_limited(
            Process::new("yes"),
            Duration::from_secs(30),
            1 << 20,
            "`yes`",
            Interrupt::Ignored,
        )
        .err()
        .expect("stopped");
        assert!(error.downcast_ref::<TooMuch>().is_some(), "{error:#}");
        assert!(error.to_string().contains("`yes` sent more than 1 MiB"));
        assert!(started.elapsed() < Duration::from_secs(10));
        let fine = run_limited(
            Process::new("echo"),
            Duration::from_secs(30),
            1 << 20,
            "`echo`",
            Interrupt::Ignored,
        )
        .unwrap();
        assert_eq!(fine.stdout, b"\n");
    }
}
