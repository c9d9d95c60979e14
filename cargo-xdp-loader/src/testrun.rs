//! `test-run CASES`: each case's packet through the project's program with
//! BPF_PROG_TEST_RUN, on this machine's kernel and verifier, answered as one
//! JSON line per case. `cargo xdp test` writes the cases (and reads the
//! answers), here or on a device. Every case gets maps of its own: the
//! object is loaded afresh with its maps pinned in a private directory of
//! the bpffs, the case's options written into them as `attach` would, and
//! the directory removed after. Nothing is attached to any interface.
//!
//! The cases file, one field per line (written by cargo-xdp, so no quoting):
//!
//! ```text
//! case drop_dns
//! arg --drop-port
//! arg udp/53
//! map drop_port
//! packet 0200000000010200...
//! repeat 1
//! end
//! ```
//!
//! `arg`s are what `attach` takes (the project's options, `--prog`, `--set`,
//! `--tail`); `entry MAP KEY VALUE` (hex) writes a map entry after them;
//! `map` names a map whose entries the answer carries. A case
//! with several `packet`s runs them in order through the same maps (a
//! capture replayed), the answer's `actions` holding each one's action. A
//! case with a line `bare` is for an object that is not the project's (a
//! baseline to compare with): the project's options are not applied. A
//! line `link rawip` says the packets start at the IP header, as on an
//! interface without Ethernet: the program's `_rawip` variant runs, where
//! it has one. A line `timed` (a bench's case; `--repeat` implies it) also
//! times the runs by CPU time (`cpu_ps`), at the cost of two extra runs.

use std::{
    fs,
    os::fd::{AsFd, AsRawFd},
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::programs::Xdp;

use crate::{
    args::Args,
    extension::Extension,
    global_data, maps, setup, variant,
    xdp::{self, Project},
};
use cargo_xdp_wire::{CaseAnswer, CaseRun, Counters, Hex};

/// One case of a cases file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub args: Vec<String>,
    pub maps: Vec<String>,
    /// (map, key, value) written before the packet runs.
    pub entries: Vec<(String, Vec<u8>, Vec<u8>)>,
    pub packets: Vec<Vec<u8>>,
    pub repeat: u32,
    /// Not the project's object: its options are not applied.
    pub bare: bool,
    /// The packets start at the IP header (`link rawip`).
    pub rawip: bool,
    /// A bench's case (`timed`, or `--repeat`): its runs are also timed by
    /// CPU time, finer than the kernel's mean, at the cost of two more runs
    /// (which a packet test counting map state must not get).
    pub timed: bool,
}

/// Reads a cases file (see the module's documentation).
pub fn parse_cases(text: &str) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let at = || format!("line {} of the cases", number + 1);
        match (key, current.as_mut()) {
            ("case", None) => {
                current = Some(Case {
                    name: value.to_string(),
                    repeat: 1,
                    ..Case::default()
                })
            }
            ("arg", Some(case)) => case.args.push(value.to_string()),
            ("map", Some(case)) => case.maps.push(value.to_string()),
            ("bare", Some(case)) => case.bare = true,
            ("timed", Some(case)) => case.timed = true,
            ("link", Some(case)) if value == "rawip" => case.rawip = true,
            ("entry", Some(case)) => {
                let mut words = value.split(' ');
                let (Some(map), Some(key), Some(value), None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    bail!("{}: write `entry MAP KEY VALUE` (hex)", at());
                };
                let bytes = |hex| unhex(hex).with_context(|| format!("{}: bad hex", at()));
                case.entries
                    .push((map.to_string(), bytes(key)?, bytes(value)?));
            }
            ("packet", Some(case)) => case
                .packets
                .push(unhex(value).with_context(|| format!("{}: bad hex", at()))?),
            ("repeat", Some(case)) => {
                case.repeat = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .with_context(|| format!("{}: repeat takes a count", at()))?
            }
            ("end", Some(case)) if case.packets.is_empty() => {
                bail!("{}: case `{}` has no packet", at(), case.name)
            }
            ("end", Some(_)) => cases.extend(current.take()),
            _ => bail!("{}: `{line}` is not expected here", at()),
        }
    }
    if let Some(case) = current {
        bail!("case `{}` has no `end`", case.name);
    }
    Ok(cases)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    Hex::parse(text).map(|hex| hex.0)
}

/// What the kernel returned for one packet.
#[derive(Debug)]
pub struct Outcome {
    /// The XDP action (XDP_DROP is 1, XDP_PASS 2 ...).
    pub action: u32,
    /// The packet as the program left it.
    pub packet: Vec<u8>,
    /// Mean time per run, in nanoseconds, as the kernel measured it
    /// (rounded down to whole nanoseconds).
    pub duration_ns: u32,
    /// This thread's CPU time for all `repeat` runs, in picoseconds per
    /// run, less the call's own cost; 0 when `repeat` is 1.
    pub cpu_ps: u64,
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN (the `test` member, up to `cpu`).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
}

const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// Runs `packet` through the loaded program `fd`, `repeat` times; `timed`
/// (a bench), also times the runs finer than the kernel's whole-ns mean:
/// this thread's CPU time for the call, less that of a call of 2 runs. A
/// clock on the wall cannot: a call of more than one run swaps the XDP
/// dispatcher first, 30-80 ms of waiting that varies by tens of ms; of CPU
/// it costs ~0.45 ms, varying by ~0.05 ms (0.05 ns per run at a million).
pub fn run_packet(
    fd: std::os::fd::BorrowedFd,
    packet: &[u8],
    repeat: u32,
    timed: bool,
) -> Result<Outcome> {
    if !timed || repeat < 3 {
        return run_once(fd, packet, repeat);
    }
    let (_, calibration) = cpu_time(|| run_once(fd, packet, 2))?;
    let (mut outcome, all) = cpu_time(|| run_once(fd, packet, repeat))?;
    outcome.cpu_ps = all.saturating_sub(calibration) * 1000 / u64::from(repeat - 2);
    Ok(outcome)
}

/// `call`'s result, and this thread's CPU time for it in nanoseconds.
fn cpu_time<T>(call: impl FnOnce() -> Result<T>) -> Result<(T, u64)> {
    let now = || {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
        time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
    };
    let started = now();
    let result = call()?;
    Ok((result, now().saturating_sub(started)))
}

fn run_once(fd: std::os::fd::BorrowedFd, packet: &[u8], repeat: u32) -> Result<Outcome> {
    // Room for a program that grows the packet (bpf_xdp_adjust_tail).
    let mut out = vec![0u8; packet.len() + 4096];
    let mut attr = TestRunAttr {
        prog_fd: fd.as_raw_fd() as u32,
        data_size_in: packet.len() as u32,
        data_size_out: out.len() as u32,
        data_in: packet.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat,
        ..TestRunAttr::default()
    };
    // SAFETY: TestRunAttr is the `test` member of bpf_attr; data_in and
    // data_out point to buffers of data_size_in and data_size_out bytes.
    unsafe { crate::sys::bpf(BPF_PROG_TEST_RUN, &mut attr) }.map_err(|error| {
        let hint = match error.raw_os_error() {
            Some(libc::EINVAL) if packet.len() < 14 => {
                " (a packet shorter than an Ethernet header)"
            }
            Some(libc::EPERM) => " (needs root, or CAP_BPF and CAP_NET_ADMIN)",
            _ => "",
        };
        anyhow::anyhow!("the kernel refused BPF_PROG_TEST_RUN: {error}{hint}")
    })?;
    out.truncate(attr.data_size_out as usize);
    Ok(Outcome {
        action: attr.retval,
        packet: out,
        duration_ns: attr.duration,
        cpu_ps: 0,
    })
}

/// What `test-run` changes in every case of the file (for `cargo xdp
/// bench`): the repeat count, and `bare` (a baseline object).
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides {
    pub repeat: Option<u32>,
    pub bare: bool,
    /// `--variants`: the cases again on each kernel variant of the object
    /// (`<stem>.variants`), named `CASE [kernel X.Y+]`; a variant for a
    /// newer kernel than this one answers `skipped`.
    pub variants: bool,
}

/// `test-run CASES [--object O] [--repeat N] [--bare]`: every case, one
/// JSON answer each, in order.
pub fn command(
    project: &Project,
    ext: &dyn Extension,
    cases: &Path,
    object: &Path,
    overrides: Overrides,
) -> Result<()> {
    xdp::require_root()?;
    let text = fs::read_to_string(cases)
        .with_context(|| format!("cannot read the cases {}", cases.display()))?;
    let cases = parse_cases(&text)?;
    let mut objects = vec![(object.to_path_buf(), None)];
    if overrides.variants {
        let listed = variant::listed(object).into_iter();
        objects.extend(listed.map(|v| (object.with_file_name(&v.file), Some(v.kernel))));
    }
    let running = variant::running_kernel();
    for (object, kernel) in &objects {
        for case in &cases {
            let mut case = Case {
                name: match kernel {
                    Some(kernel) => cargo_xdp_wire::variant_case_name(&case.name, *kernel),
                    None => case.name.clone(),
                },
                repeat: overrides.repeat.unwrap_or(case.repeat),
                timed: case.timed || overrides.repeat.is_some(),
                bare: case.bare || overrides.bare,
                ..case.clone()
            };
            let answer = match (kernel, running) {
                (Some(kernel), running) if running.is_none_or(|r| r < *kernel) => {
                    CaseAnswer::Skipped {
                        case: std::mem::take(&mut case.name),
                        skipped: format!(
                            "the variant for kernel {kernel}+ does not run on kernel {}",
                            running.map_or("unknown".into(), |r| r.to_string())
                        ),
                    }
                }
                _ => match run_case(project, ext, object, &case) {
                    Ok(run) => CaseAnswer::Ran(run),
                    Err(error) => CaseAnswer::Failed {
                        case: case.name.clone(),
                        error: format!("{error:#}"),
                    },
                },
            };
            println!("{answer}");
        }
    }
    Ok(())
}

/// One case in maps of its own, removed afterwards whatever happened.
fn run_case(project: &Project, ext: &dyn Extension, object: &Path, case: &Case) -> Result<CaseRun> {
    let scratch = Scratch::new(project)?;
    let result = run_in(&scratch.project, ext, object, case);
    drop(scratch);
    result
}

/// A private bpffs directory for one case's pins (or a `check`'s).
pub(crate) struct Scratch {
    pub(crate) project: Project,
    root: PathBuf,
}

impl Scratch {
    pub(crate) fn new(project: &Project) -> Result<Scratch> {
        crate::bpffs::ensure_bpffs(&project.bpffs)?;
        // A name nobody can guess, made here (never one that was there):
        // another user who can write bpffs cannot plant it first.
        // (bpffs refuses names with a dot.)
        let root = loop {
            let root = project.bpffs.join(format!(
                "cargo-xdp-test-{}-{:016x}",
                project.name,
                random_u64()?
            ));
            match fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => break root,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(
                        anyhow::anyhow!(error).context(format!("cannot create {}", root.display()))
                    )
                }
            }
        };
        crate::bpffs::own_dir(&root, false)?;
        let scratch = Scratch {
            project: Project {
                name: project.name,
                bpffs: root.clone(),
                invoked_as: project.invoked_as.clone(),
            },
            root,
        };
        for dir in [scratch.root.join(project.name), scratch.project.maps_dir()] {
            crate::bpffs::own_dir(&dir, true)?;
        }
        Ok(scratch)
    }
}

/// Eight bytes from the kernel's random source (/dev/urandom: bionic
/// has getrandom(3) only from API level 28 on).
fn random_u64() -> Result<u64> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(u64::from_ne_bytes(bytes))
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn run_in(project: &Project, ext: &dyn Extension, object: &Path, case: &Case) -> Result<CaseRun> {
    // A baseline object takes none of the project's options or entries.
    let given: &[String] = if case.bare { &[] } else { &case.args };
    let mut args = Args::new(given.iter().cloned());
    let setup::ObjectOptions {
        program,
        globals,
        tails,
    } = setup::ObjectOptions::take(&mut args)?;
    let options: Box<dyn crate::extension::AttachOptions> = if case.bare {
        Box::new(crate::extension::NoOptions)
    } else {
        ext.attach_options(&mut args)?
    };
    args.finish()?;
    xdp::raise_memlock();
    let maps_dir = project.maps_dir();
    let mut ebpf = setup::load(object, &maps_dir, &globals)?;
    let default_program = if case.bare {
        None
    } else {
        ext.default_program()
    };
    let link = if case.rawip {
        crate::choose::Link::RawIp
    } else {
        crate::choose::Link::Ethernet
    };
    let chosen = crate::choose::choose_xdp_program(
        &ebpf,
        object,
        program.as_deref(),
        default_program,
        link,
    )?
    .name;
    let xdp_program: &mut Xdp = ebpf
        .program_mut(&chosen)
        .expect("program listed above")
        .try_into()
        .with_context(|| format!("program `{chosen}` is not an XDP program"))?;
    xdp_program
        .load()
        .map_err(|error| xdp::refused(&chosen, error))?;
    let tails = if case.bare {
        tails
    } else {
        setup::with_declared_tails(object, &tails)?
    };
    setup::fill_tail_calls(&mut ebpf, &tails, &maps_dir)?;
    options.apply(project)?;
    if !case.bare {
        pin_case_maps(&ebpf, case, &maps_dir)?;
    }
    for (map, key, value) in case.entries.iter().filter(|_| !case.bare) {
        maps::update(&maps_dir.join(map), key, value).with_context(|| format!("map `{map}`"))?;
    }
    if !case.bare {
        global_data::fill_loaded(ext, project, &ebpf)?;
    }
    let xdp_program: &mut Xdp = ebpf
        .program_mut(&chosen)
        .expect("loaded above")
        .try_into()
        .expect("an XDP program");
    let fd = xdp_program.fd()?.as_fd();
    let mut actions = Vec::with_capacity(case.packets.len());
    let mut last = None;
    for packet in &case.packets {
        let outcome = run_packet(fd, packet, case.repeat, case.timed)?;
        actions.push(outcome.action);
        last = Some(outcome);
    }
    let outcome = last.expect("a case has a packet");

    let counters = if maps_dir.join("xdp_stats").exists() {
        Some(Counters::from_actions(project.counters()?.map(Into::into)))
    } else {
        None
    };
    let mut maps = Vec::new();
    for map in case.maps.iter().filter(|_| !case.bare) {
        let (_, entries) =
            maps::dump(&maps_dir.join(map)).with_context(|| format!("map `{map}`"))?;
        maps.push((map.clone(), entries));
    }
    Ok(CaseRun {
        case: case.name.clone(),
        program: chosen,
        action: outcome.action,
        actions,
        packet: Hex(outcome.packet),
        ns: outcome.duration_ns.into(),
        cpu_ps: outcome.cpu_ps,
        counters,
        maps,
    })
}

/// The maps a case fills or reads that the object does not pin, pinned in
/// the case's scratch maps dir: a case names any map of the object.
fn pin_case_maps(ebpf: &aya::Ebpf, case: &Case, maps_dir: &Path) -> Result<()> {
    let named = case.entries.iter().map(|(map, _, _)| map).chain(&case.maps);
    for map in named {
        let Some(pin) = Project::map_pin_in(maps_dir, map).filter(|pin| !pin.exists()) else {
            continue;
        };
        let Some(found) = ebpf.map(map) else {
            let names: Vec<&str> = ebpf.maps().map(|(name, _)| name).collect();
            bail!(
                "the object has no map `{map}` (it has {})",
                names.join(", ")
            );
        };
        fs::create_dir_all(maps_dir)?;
        found
            .pin(&pin)
            .with_context(|| format!("cannot pin map `{map}` at {}", pin.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_read_field_by_field() {
        let cases = parse_cases(
            "case a\narg --drop-port\narg udp/53\nmap drop_port\npacket 00ff10\nend\n\
             case b\nlink rawip\ntimed\npacket 01\nrepeat 1000\nend\n",
        )
        .unwrap();
        assert_eq!(
            cases[0],
            Case {
                name: "a".into(),
                args: vec!["--drop-port".into(), "udp/53".into()],
                maps: vec!["drop_port".into()],
                entries: vec![],
                packets: vec![vec![0, 0xff, 0x10]],
                repeat: 1,
                bare: false,
                rawip: false,
                timed: false,
            }
        );
        assert_eq!(cases[1].repeat, 1000);
        assert!(cases[1].rawip && cases[1].timed);
        let with_entry =
            parse_cases("case c\nentry drop_proto 11000000 01000000\npacket 00\nend\n").unwrap();
        assert_eq!(
            with_entry[0].entries,
            [(
                "drop_proto".to_string(),
                vec![0x11, 0, 0, 0],
                vec![1, 0, 0, 0]
            )]
        );
        assert!(parse_cases("case c\nentry m 00\npacket 00\nend\n").is_err());
    }

    #[test]
    fn malformed_cases_name_the_line() {
        let error = |text: &str| parse_cases(text).unwrap_err().to_string();
        assert!(error("packet 00\n").contains("line 1"));
        assert!(error("case a\npacket 0g\nend\n").contains("line 2 of the cases: bad hex"));
        assert!(error("case a\nrepeat 0\nend\n").contains("repeat takes a count"));
        assert!(error("case a\nend\n").contains("case `a` has no packet"));
        assert!(error("case a\n").contains("case `a` has no `end`"));
    }
}
