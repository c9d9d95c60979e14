//! The loader's command line: `attach`, `detach`, `status`, `stats`,
//! `maps`, `map dump`, and whatever the project's [`Extension`] adds. A
//! generated loader's `main` is one call to [`run`].

use std::{path::PathBuf, thread, time::Duration};

use anyhow::{Context, Result};

use crate::{
    args::Args,
    bpffs::DEFAULT_BPFFS,
    check,
    extension::Extension,
    global_data, maps, setup, testrun, tracelog, variant,
    xdp::{self, AttachRequest, Counter, Mode, Project, ACTIONS},
};
use cargo_xdp_wire::Counters;

fn usage(project: &Project, ext: &dyn Extension) -> String {
    format!(
        "{command} {version}: attach the {name} XDP program

Usage:
  {command} attach IFACE [--mode auto|skb|native] [--prog NAME] [--object PATH]
      [--set GLOBAL=VALUE]... [--tail MAP:INDEX=PROG]... [--reset-maps]{attach_rules}
  {command} detach IFACE
  {command} status [--json]
  {command} maps [--object PATH] [--json]
  {command} map dump MAP [--json]
  {command} stats [--watch] [--interval SECS] [--count N] [--json]
  {command} check [--object PATH] [--variants]   (cargo xdp check: verifier only)
  {command} log [--ours | --all] [--tracefs DIR] [--keepalive]   (cargo xdp log: bpf_printk lines)
  {command} test-run CASES [--object PATH] [--repeat N] [--bare] [--variants]
      (cargo xdp test, bench){rules_command}

Options:
  --mode MODE     auto (default: native, else skb), skb (generic) or native (driver)
  --prog NAME     which program of the object to attach, by function or section name{default_prog}
  --set G=V       set the `const volatile` global G of the C program to the integer V
  --tail M:I=P    put program P into slot I of the PROG_ARRAY map M (tail calls)
  --object PATH   the kern object (default: {kern}.o beside this binary); attach loads the
                  newest of its kernel variants ({kern}.variants) this kernel allows
  --variants      check, test-run: each kernel variant too
  --reset-maps    start every pinned map empty (else a map the object defines alike is
                  kept, and one whose capacity changed keeps its entries)
  --bpffs DIR     where bpffs is mounted (default: {DEFAULT_BPFFS}); pins go to DIR/{name}/
{rules_help}
An attach outlives this process; attaching again replaces the program.
Needs root.",
        version = env!("CARGO_PKG_VERSION"),
        name = project.name,
        command = project.command(),
        kern = project.kern_stem(),
        attach_rules = ext.attach_usage(),
        rules_command = ext.command_usage(),
        default_prog = ext
            .default_program()
            .map(|p| format!(" (default: {p})"))
            .unwrap_or_default(),
        rules_help = ext.help(),
    )
}

/// Runs the loader of project `name` with the project's `extension`, on
/// this process's arguments; prints the error and exits 1 on failure.
///
/// ```no_run
/// struct Rules;
/// impl cargo_xdp_loader::Extension for Rules {}
/// fn main() {
///     cargo_xdp_loader::run("myfilter", &Rules);
/// }
/// ```
pub fn run(name: &'static str, extension: &dyn Extension) {
    // Output into a closed pipe (`stats | head`) ends the loader quietly,
    // as it does a C tool, instead of a panic.
    // SAFETY: restoring the default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut arguments = std::env::args();
    // Its own file name, for usage and hints (a project made before the
    // naming rule, or a renamed binary, keeps its name).
    let invoked_as = arguments.next().and_then(|arg0| {
        Some(
            std::path::Path::new(&arg0)
                .file_name()?
                .to_str()?
                .to_string(),
        )
    });
    if let Err(error) = run_as(name, invoked_as, extension, arguments) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// [`run`] on the given arguments (without the program name), returning the error.
pub fn run_with(
    name: &'static str,
    ext: &dyn Extension,
    arguments: impl IntoIterator<Item = String>,
) -> Result<()> {
    run_as(name, None, ext, arguments)
}

fn run_as(
    name: &'static str,
    invoked_as: Option<String>,
    ext: &dyn Extension,
    arguments: impl IntoIterator<Item = String>,
) -> Result<()> {
    let mut args = Args::new(arguments);
    let project = Project {
        name,
        invoked_as,
        bpffs: args
            .value("--bpffs")?
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BPFFS)),
    };
    if args.flag("--help") || args.flag("-h") {
        println!("{}", usage(&project, ext));
        return Ok(());
    }
    if args.flag("--version") || args.flag("-V") {
        println!(
            "{} (cargo-xdp-loader {})",
            project.command(),
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    let command = args.positional();
    match command.as_deref() {
        Some("attach") => attach(&project, ext, args),
        Some("detach") => {
            let interface = args
                .positional()
                .context("detach needs an interface: detach IFACE")?;
            args.finish()?;
            project.detach(&interface, &our_programs())?;
            println!("Detached {name} from {interface}");
            Ok(())
        }
        Some("status") => status(&project, args),
        Some("test-run") => {
            let object = args.value("--object")?;
            // For a benchmark: every case repeated, or run as a baseline.
            let repeat = args
                .value("--repeat")?
                .map(|n| {
                    n.parse::<u32>()
                        .ok()
                        .filter(|&n| n > 0)
                        .context("--repeat takes a count")
                })
                .transpose()?;
            let bare = args.flag("--bare");
            let variants = args.flag("--variants");
            let cases = args.positional().context(
                "test-run needs the cases file: test-run CASES [--object PATH] [--repeat N] \
                 [--bare] [--variants]",
            )?;
            args.finish()?;
            let object = match object {
                Some(path) => PathBuf::from(path),
                None => object_beside_exe(&project)?,
            };
            let overrides = testrun::Overrides {
                repeat,
                bare,
                variants,
            };
            testrun::command(
                &project,
                ext,
                std::path::Path::new(&cases),
                &object,
                overrides,
            )
        }
        Some("check") => {
            let object = args.value("--object")?;
            let variants = args.flag("--variants");
            args.finish()?;
            let object = match object {
                Some(path) => PathBuf::from(path),
                None => object_beside_exe(&project)?,
            };
            check::command(&project, &object, variants)
        }
        Some("log") => {
            let shown = if args.flag("--all") {
                tracelog::Shown::All
            } else if args.flag("--ours") {
                tracelog::Shown::Ours
            } else {
                tracelog::Shown::Printk
            };
            let tracefs = args.value("--tracefs")?.map(PathBuf::from);
            let keepalive = args.flag("--keepalive");
            args.finish()?;
            tracelog::command(&project, shown, tracefs, keepalive)
        }
        Some("stats") => stats(&project, args),
        Some("maps") => list_maps(&project, args),
        Some("map") => map_command(&project, args),
        Some(other) => match ext.command(&project, other, args) {
            Some(result) => result,
            None => anyhow::bail!("unknown command `{other}`\n\n{}", usage(&project, ext)),
        },
        None => anyhow::bail!("no command given\n\n{}", usage(&project, ext)),
    }
}

fn attach(project: &Project, ext: &dyn Extension, mut args: Args) -> Result<()> {
    let name = project.name;
    let mode = Mode::parse(args.value("--mode")?.as_deref().unwrap_or("auto"))?;
    let object_arg = args.value("--object")?;
    let setup::ObjectOptions {
        mut program,
        globals,
        tails,
    } = setup::ObjectOptions::take(&mut args)?;
    let reset_maps = args.flag("--reset-maps");
    let options = ext.attach_options(&mut args)?;
    let interface = args
        .positional()
        .context("attach needs an interface: attach IFACE")?;
    args.finish()?;
    // Without --object, the project's attach table (cargo xdp build writes
    // it from [[workspace.metadata.xdp.attach]]) says which object, and
    // which program unless --prog does.
    let object = match object_arg {
        Some(path) => PathBuf::from(path),
        None => {
            let (object, table_program) = attach_rule_for(project, &interface)?;
            if program.is_none() {
                program = table_program;
            }
            object
        }
    };
    // The newest kernel variant this kernel allows (`<stem>.variants`).
    let chosen = variant::for_this_kernel(&object);
    let used = project.attach(&AttachRequest {
        interface: &interface,
        mode,
        program: program.as_deref(),
        default_program: ext.default_program(),
        object: &chosen.object,
        globals: &globals,
        tails: &tails,
        prepare: &|project, ebpf| {
            options.apply(project)?;
            global_data::fill_loaded(ext, project, ebpf)
        },
        reset_maps,
        variant: chosen.variant,
    })?;
    // The attach's rules replaced those in force: the other interfaces'
    // programs take them into their global data too.
    global_data::refresh_attached(ext, project)?;
    println!(
        "Attached {name} to {interface} in {used} mode{}{}",
        chosen.describe(),
        options.describe()
    );
    Ok(())
}

/// `maps`: what the object declares, and which of them are pinned now.
fn list_maps(project: &Project, mut args: Args) -> Result<()> {
    let json = args.flag("--json");
    let object = match args.value("--object")? {
        Some(path) => PathBuf::from(path),
        None => object_beside_exe(project)?,
    };
    args.finish()?;
    let declared = maps::declared(&object)?;
    let pinned = |name: &str| project.maps_dir().join(name).exists();
    if json {
        let items: Vec<String> = declared
            .iter()
            .map(|m| {
                format!(
                    r#"{{"name":"{}","type":"{}","key_size":{},"value_size":{},"max_entries":{},"pinned":{}}}"#,
                    m.name, m.kind, m.key_size, m.value_size, m.max_entries, pinned(&m.name)
                )
            })
            .collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:>5} {:>6} {:>8}  PINNED",
        "MAP", "TYPE", "KEY", "VALUE", "ENTRIES"
    );
    for m in &declared {
        println!(
            "{:<20} {:<16} {:>5} {:>6} {:>8}  {}",
            m.name,
            m.kind,
            m.key_size,
            m.value_size,
            m.max_entries,
            if pinned(&m.name) { "yes" } else { "-" }
        );
    }
    Ok(())
}

/// `map dump MAP`: a pinned map's entries, in hex; else those of the
/// attached program's own map of that name.
fn map_command(project: &Project, mut args: Args) -> Result<()> {
    let json = args.flag("--json");
    match args.positional().as_deref() {
        Some("dump") => {}
        _ => anyhow::bail!("usage: {} map dump MAP [--json]", project.command()),
    }
    let name = args
        .positional()
        .context("map dump needs a map name (see `maps`)")?;
    xdp::require_root_for("`map dump`")?;
    args.finish()?;
    let pin = Project::map_pin_in(&project.maps_dir(), &name).filter(|pin| pin.exists());
    let (info, entries, whose) = match pin {
        Some(pin) => {
            let (info, entries) = maps::dump(&pin)?;
            (info, entries, String::new())
        }
        None => match maps::dump_attached(project.attached_maps()?, &name)? {
            Some((interface, info, entries)) => (
                info,
                entries,
                format!(" (not pinned: the program's on {interface})"),
            ),
            None => anyhow::bail!(
                "no map `{name}` is pinned under {}, nor does a program of {} attached now have \
                 one: only maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)` (or filled \
                 with --tail) outlive their programs; `maps` lists what the object declares",
                project.maps_dir().display(),
                project.name
            ),
        },
    };
    if json {
        println!("{}", cargo_xdp_wire::Entries(&entries));
        return Ok(());
    }
    println!(
        "{name}{whose}: {}, key {} bytes, value {} bytes, {} entries",
        info.map_type()
            .map(|t| maps::type_name(t as u32))
            .unwrap_or("unknown"),
        info.key_size(),
        info.value_size(),
        entries.len()
    );
    for entry in &entries {
        let values: Vec<String> = entry.values.iter().map(|v| v.to_string()).collect();
        println!("{}: {}", entry.key, values.join(" "));
    }
    Ok(())
}

/// The programs of this project's objects (the kern objects beside this
/// binary), by which the kernel's programs are told ours or another tool's.
fn our_programs() -> Vec<String> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let dir = exe
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "o") {
            names.extend(maps::program_names(&path));
        }
    }
    names
}

/// The default kern object: the attach table's, else NAME_kern.o, beside
/// this binary.
fn object_beside_exe(project: &Project) -> Result<PathBuf> {
    Ok(attach_rule_for(project, "*")?.0)
}

/// `{name}.attach` beside this binary: the first line for `interface`, else
/// the first for all (`*`): (object path, program).
fn attach_rule_for(project: &Project, interface: &str) -> Result<(PathBuf, Option<String>)> {
    let name = project.name;
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let table =
        std::fs::read_to_string(exe.with_file_name(format!("{name}.attach"))).unwrap_or_default();
    let rules: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 3)
        .collect();
    let rule = rules
        .iter()
        .find(|w| w[0] == interface)
        .or_else(|| rules.iter().find(|w| w[0] == "*"));
    Ok(match rule {
        Some(w) => (
            object_for(&exe, &format!("{}.o", w[1])),
            (w[2] != "-").then(|| w[2].to_string()),
        ),
        None => (
            object_for(&exe, &format!("{}.o", project.kern_stem())),
            None,
        ),
    })
}

/// The kern object `file` beside this loader (a bundle), else where
/// `cargo xdp build` writes it when this loader runs from cargo's target
/// dir (`cargo run`: `target/debug/` beside `target/xdp/linux-<arch>/kern/`);
/// else the path beside it, for the attach to name.
fn object_for(exe: &std::path::Path, file: &str) -> PathBuf {
    let beside = exe.with_file_name(file);
    if beside.is_file() {
        return beside;
    }
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    exe.ancestors()
        .skip(2)
        .take(3)
        .map(|dir| {
            dir.join("xdp")
                .join(format!("linux-{arch}"))
                .join("kern")
                .join(file)
        })
        .find(|candidate| candidate.is_file())
        .unwrap_or(beside)
}

fn status(project: &Project, mut args: Args) -> Result<()> {
    let name = project.name;
    let json = args.flag("--json");
    args.finish()?;
    xdp::require_root_for("`status`")?;
    let attachments = project.attachments(&our_programs())?;
    if json {
        let status = cargo_xdp_wire::Status {
            name: name.to_string(),
            attached: attachments,
        };
        println!("{status}");
    } else if attachments.is_empty() {
        println!("{name}: not attached");
    } else {
        // Modes can be long ("native (no pin)"): the column fits them.
        let mode = attachments
            .iter()
            .map(|a| a.mode.len())
            .max()
            .unwrap_or(0)
            .max(7);
        // Which kernel variant runs, where the object has variants.
        let variants = attachments.iter().any(|a| a.variant.is_some())
            || object_beside_exe(project)
                .is_ok_and(|object| variant::for_this_kernel(&object).has_variants);
        let column = |text: &str| {
            if variants {
                format!(" {text}")
            } else {
                String::new()
            }
        };
        println!(
            "{:<16} {:<mode$} {:<16} {:>8}{}",
            "INTERFACE",
            "MODE",
            "PROGRAM",
            "PROG_ID",
            column("VARIANT")
        );
        for a in &attachments {
            let variant = match &a.variant {
                Some(kernel) => format!("kernel {kernel}+"),
                None => "base".into(),
            };
            println!(
                "{:<16} {:<mode$} {:<16} {:>8}{}",
                a.interface,
                a.mode,
                a.program,
                a.program_id,
                column(&variant)
            );
        }
    }
    Ok(())
}

fn stats(project: &Project, mut args: Args) -> Result<()> {
    let json = args.flag("--json");
    let watch = args.flag("--watch");
    let interval = match args.value("--interval")? {
        Some(text) => crate::args::seconds(&text)
            .filter(|d| !d.is_zero())
            .context("--interval takes seconds, e.g. 1 or 0.5")?,
        None => Duration::from_secs(1),
    };
    let count: Option<u64> = match args.value("--count")? {
        Some(text) => Some(text.parse().context("--count takes a number of samples")?),
        None => None,
    };
    args.finish()?;
    xdp::require_root_for("`stats`")?;
    let samples = count.unwrap_or(if watch { u64::MAX } else { 1 });
    let mut previous: Option<[Counter; 5]> = None;
    for sample in 0..samples {
        if sample > 0 {
            thread::sleep(interval);
        }
        let now = project.counters()?;
        if json {
            print_json(&now);
        } else {
            print_table(&now, previous.as_ref(), interval);
        }
        previous = Some(now);
    }
    Ok(())
}

fn print_json(counters: &[Counter; 5]) {
    println!("{}", Counters::from_actions(counters.map(Into::into)));
}

fn print_table(counters: &[Counter; 5], previous: Option<&[Counter; 5]>, interval: Duration) {
    println!(
        "{:<10} {:>14} {:>16} {:>12} {:>14}",
        "ACTION", "PACKETS", "BYTES", "PKT/S", "BIT/S"
    );
    // u64 arithmetic: u128 division and printing cost the loader 2 KiB.
    let millis = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    for (i, (action, c)) in ACTIONS.iter().zip(counters).enumerate() {
        let (pps, bps) = previous
            .map(|p| {
                let packets = c.packets.saturating_sub(p[i].packets);
                let bits = c.bytes.saturating_sub(p[i].bytes).saturating_mul(8);
                (
                    (packets.saturating_mul(1000) / millis).to_string(),
                    (bits.saturating_mul(1000) / millis).to_string(),
                )
            })
            .unwrap_or_else(|| ("-".into(), "-".into()));
        println!(
            "{action:<10} {:>14} {:>16} {pps:>12} {bps:>14}",
            c.packets, c.bytes
        );
    }
}
