//! Attach, detach, status and counters, shared by every cargo-xdp template.
//!
//! An attach must outlive this process. The program is attached over
//! netlink (held by the interface, see netlink.rs) and pinned in bpffs so
//! later runs can find it:
//!
//! ```text
//! <bpffs>/<name>/maps/<map>       maps declared with LIBBPF_PIN_BY_NAME
//! <bpffs>/<name>/progs/<iface>    the program attached to <iface>
//! ```
//!
//! Attaching again on an interface swaps the program in one netlink call
//! (atomic: no packet sees "no program"), so programs never stack.

use std::{
    ffi::CString,
    fs,
    io::ErrorKind,
    os::fd::{AsFd, AsRawFd},
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context, Result};
use aya::{
    maps::{Map, MapData, PerCpuArray},
    programs::{ProgramError, ProgramInfo, Xdp},
    Pod,
};

use crate::netlink::{
    self, Attached, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST,
};
use crate::{migrate, setup, variant};

/// Where bpffs lives unless `--bpffs` says otherwise.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";
/// statfs(2)'s f_type of a bpffs: a signed 32-bit word on 32-bit targets,
/// where 0xcafe4a11 reads negative, so compared as the low 32 bits.
const BPF_FS_MAGIC: u32 = 0xcafe4a11;

/// The attach modes a user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Native (driver) mode, falling back to skb (generic) mode.
    Auto,
    Skb,
    Native,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Mode> {
        match text {
            "auto" => Ok(Mode::Auto),
            "skb" | "generic" => Ok(Mode::Skb),
            "native" | "drv" | "driver" => Ok(Mode::Native),
            other => bail!("unknown --mode `{other}`: use auto, skb or native"),
        }
    }

    /// XDP_FLAGS_* to try, in order.
    fn tries(self) -> &'static [(u32, &'static str)] {
        const NATIVE: (u32, &str) = (XDP_FLAGS_DRV_MODE, "native");
        const SKB: (u32, &str) = (XDP_FLAGS_SKB_MODE, "skb");
        match self {
            Mode::Auto => &[NATIVE, SKB],
            Mode::Skb => &[SKB],
            Mode::Native => &[NATIVE],
        }
    }
}

/// Per-action counters, as the kern side's `struct xdp_counter`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

// SAFETY: two u64s, no padding, every bit pattern valid.
unsafe impl Pod for Counter {}

/// XDP actions in the order of the kernel's `enum xdp_action`.
impl From<Counter> for cargo_xdp_wire::Counter {
    fn from(c: Counter) -> cargo_xdp_wire::Counter {
        cargo_xdp_wire::Counter {
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

pub const ACTIONS: [&str; 5] = cargo_xdp_wire::Counters::ACTIONS;

/// One interface this project was attached to, as `status` reports it.
pub use cargo_xdp_wire::Attachment;

pub struct Project {
    pub name: &'static str,
    pub bpffs: PathBuf,
    /// How the loader was run (its file name), for usage and hints; None:
    /// by cargo-xdp's naming rule.
    pub invoked_as: Option<String>,
}

pub struct AttachRequest<'a> {
    pub interface: &'a str,
    pub mode: Mode,
    pub program: Option<&'a str>,
    pub default_program: Option<&'a str>,
    pub object: &'a Path,
    /// `--set NAME=VALUE`: `const volatile` globals, set before the load.
    pub globals: &'a [setup::Global],
    /// `--tail MAP:INDEX=PROG`: tail-call slots, filled before the attach.
    pub tails: &'a [setup::TailCall],
    /// Runs once the maps exist and before the program sees a packet
    /// (filter rules go in here, and the loaded program's global data).
    pub prepare: &'a dyn Fn(&Project, &aya::Ebpf) -> Result<()>,
    /// `--reset-maps`: every pinned map starts empty.
    pub reset_maps: bool,
    /// The kernel variant `object` is (variant.rs), recorded for `status`.
    pub variant: Option<cargo_xdp_wire::variants::KernelVersion>,
}

impl Project {
    /// The loader's command (`myfilter_user`; `my-filter-user` for a name
    /// with hyphens): cargo-xdp's names::loader_crate rule, kept in step.
    pub fn command(&self) -> String {
        self.invoked_as
            .clone()
            .unwrap_or_else(|| joined(self.name, "user"))
    }

    /// The first kern source's stem (`myfilter_kern`, `my-filter-kern`).
    pub fn kern_stem(&self) -> String {
        joined(self.name, "kern")
    }

    fn dir(&self) -> PathBuf {
        self.bpffs.join(self.name)
    }

    pub fn maps_dir(&self) -> PathBuf {
        self.dir().join("maps")
    }

    /// Where map `name` is pinned in `maps_dir`; none for a name that is
    /// not a plain file name there (a '/' in it, or a leading '.').
    pub fn map_pin_in(maps_dir: &Path, name: &str) -> Option<PathBuf> {
        (!name.contains('/') && !name.starts_with('.')).then(|| maps_dir.join(name))
    }

    fn progs_dir(&self) -> PathBuf {
        self.dir().join("progs")
    }

    /// variant.rs's records of which kernel variant each program is.
    fn variants_dir(&self) -> PathBuf {
        self.dir().join("variants")
    }

    /// Drops the variant records of programs no longer pinned.
    fn sweep_variant_records(&self) -> Result<()> {
        let live: Vec<u32> = self
            .pins()?
            .iter()
            .filter_map(|(_, pin)| pinned_program_id(pin))
            .collect();
        variant::sweep(&self.variants_dir(), &live);
        Ok(())
    }

    /// Where the program on `interface` is pinned. Callers check the name
    /// first (check_interface): it becomes a path.
    /// bpffs refuses names with a dot (VLAN devices: `eth0.100`), and no
    /// interface name has a colon: `.` is pinned as `:`.
    fn pin_for(&self, interface: &str) -> PathBuf {
        debug_assert!(check_interface(interface).is_ok());
        self.progs_dir().join(interface.replace('.', ":"))
    }

    /// Loads the object, attaches the chosen program to `interface` and pins
    /// it, replacing what this project had there. Returns the mode in use.
    /// On failure nothing new stays attached or pinned.
    pub fn attach(&self, request: &AttachRequest) -> Result<&'static str> {
        require_root()?;
        let attached = self.attach_and_pin(request);
        if attached.is_err() {
            let _ = self.remove_if_unused();
        }
        attached
    }

    fn attach_and_pin(&self, request: &AttachRequest) -> Result<&'static str> {
        let interface = request.interface;
        let ifindex = interface_index(interface)?;
        raise_memlock();
        ensure_bpffs(&self.bpffs)?;
        for dir in [self.dir(), self.maps_dir(), self.progs_dir()] {
            own_dir(&dir, true)?;
        }

        let pin = self.pin_for(interface);
        let ours = pinned_program_id(&pin);
        let state = netlink::query_link(ifindex)?;
        let replacing = match state.xdp {
            Some(now) if Some(now.program_id) == ours => Some(now),
            // No pin (removed, or its directory renamed): the kernel's name
            // for the program tells whether it is ours.
            Some(now)
                if ours.is_none()
                    && is_ours(now.program_id, &crate::maps::program_names(request.object)) =>
            {
                eprintln!(
                    "note: {interface} runs {}'s program (id {}) without its pin; replacing it",
                    self.name, now.program_id
                );
                Some(now)
            }
            Some(now) => bail!("{}", self.someone_elses(interface, &now)),
            None => None,
        };
        if replacing.is_none() {
            let _ = fs::remove_file(&pin); // stale: the interface lost our program
            if self.pins()?.is_empty() {
                // Nothing of ours runs anywhere: maps left by an older build
                // may not match this object, start them fresh.
                remove_dir_contents(&self.maps_dir())?;
            }
        }
        if !request.object.is_file() {
            bail!(
                "kern object {} not found (nor in target/xdp/<target>/kern/ when run from cargo's \
                 target dir): run `cargo xdp build` in the project, which writes it there and \
                 bundles it beside the loader, or pass --object PATH",
                request.object.display()
            );
        }
        let plan = migrate::Plan::prepare(request.object, &self.maps_dir(), request.reset_maps)?;
        let attached = self.load_and_swap(request, ifindex, state, replacing, &plan);
        match &attached {
            Ok(_) => {
                let others: Vec<String> = self
                    .pins()?
                    .into_iter()
                    .map(|(other, _)| other)
                    .filter(|other| other != interface)
                    .collect();
                plan.report(&others);
                self.sweep_variant_records()?;
            }
            Err(_) => plan.restore(),
        }
        attached
    }

    /// The object loaded (its changed maps anew, entries carried over),
    /// the chosen program attached in place of `replacing` and pinned.
    fn load_and_swap(
        &self,
        request: &AttachRequest,
        ifindex: u32,
        state: netlink::LinkState,
        replacing: Option<Attached>,
        plan: &migrate::Plan,
    ) -> Result<&'static str> {
        let interface = request.interface;
        let pin = self.pin_for(interface);
        let mut ebpf = setup::load(request.object, &self.maps_dir(), request.globals)?;
        plan.carry_over()?;
        let link = Link::from_arphrd(state.link_type.with_context(|| {
            format!("the kernel did not describe interface {interface} (index {ifindex})")
        })?);
        let Chosen {
            name: chosen,
            rawip_variant,
            unsure,
        } = choose_xdp_program(
            &ebpf,
            request.object,
            request.program,
            request.default_program,
            link,
        )?;
        if rawip_variant {
            eprintln!(
                "note: {interface} carries raw IP (no Ethernet header): attaching `{chosen}`, \
                 the program's raw-IP variant"
            );
        } else if unsure {
            eprintln!(
                "note: {interface} carries raw IP (no Ethernet header) and `{chosen}` has no \
                 `{chosen}{RAWIP_SUFFIX}` variant: it sees the IP header where an Ethernet \
                 header would be; write that variant (see the templates) if it parses headers"
            );
        }
        {
            let program: &mut Xdp = ebpf
                .program_mut(&chosen)
                .expect("program listed above")
                .try_into()
                .with_context(|| format!("program `{chosen}` is not an XDP program"))?;
            program.load().map_err(|error| refused(&chosen, error))?;
        }
        // Tail-call slots and rules, before the program sees a packet.
        let tails = setup::with_declared_tails(request.object, request.tails)?;
        setup::fill_tail_calls(&mut ebpf, &tails, &self.maps_dir())?;
        (request.prepare)(self, &ebpf)?;
        let program: &mut Xdp = ebpf
            .program_mut(&chosen)
            .expect("loaded above")
            .try_into()
            .expect("an XDP program");
        let fd = program.fd()?.as_fd().as_raw_fd();

        match replacing {
            // Same mode (or any): one netlink call swaps the program atomically.
            Some(now)
                if request.mode == Mode::Auto || request.mode.tries()[0].0 == now.mode_flags() =>
            {
                netlink::set_xdp(ifindex, fd, now.mode_flags()).map_err(|e| {
                    anyhow!("the kernel refused to replace the program on {interface}: {e}")
                })?;
            }
            // A different mode: the kernel allows one mode at a time.
            Some(now) => {
                detach_from(ifindex, now)?;
                attach_with_fallback(ifindex, fd, interface, request.mode)?;
            }
            None => attach_with_fallback(ifindex, fd, interface, request.mode)?,
        }
        let _ = fs::remove_file(&pin);
        if let Err(error) = program.pin(&pin) {
            if let Ok(Some(now)) = netlink::query_xdp(ifindex) {
                let _ = detach_from(ifindex, now);
            }
            bail!(
                "cannot pin the program at {} ({error}); detached it again",
                pin.display()
            );
        }
        let now = netlink::query_xdp(ifindex)?
            .context("the kernel accepted the attach but reports no XDP program")?;
        variant::record(&self.variants_dir(), now.program_id, request.variant)?;
        Ok(now.mode_name())
    }

    /// Detaches this project's program from `interface`; the last detach
    /// removes the project's maps too. The kernel is asked, not only the
    /// pins: a program of ours whose pin is gone (`ours` names the object's
    /// programs) is still found and removed, and a program of another tool
    /// is named as such and left alone.
    pub fn detach(&self, interface: &str, ours: &[String]) -> Result<()> {
        check_interface(interface)?;
        require_root()?;
        let pin = self.pin_for(interface);
        let Some(pinned) = pinned_program_id(&pin) else {
            let ifindex = interface_index(interface)?;
            return match netlink::query_xdp(ifindex)? {
                Some(now) if is_ours(now.program_id, ours) => {
                    detach_from(ifindex, now)?;
                    eprintln!(
                        "note: {}'s program (id {}) ran on {interface} without its pin; detached it",
                        self.name, now.program_id
                    );
                    self.remove_if_unused()
                }
                Some(now) => bail!(
                    "nothing of {} is attached to {interface}: it runs another tool's XDP program \
                     ({}); remove that with `ip link set dev {interface} xdp off`",
                    self.name,
                    describe_program(now.program_id)
                ),
                None => bail!(
                    "nothing of {} is attached to {interface} (see `{} status`)",
                    self.name,
                    self.command()
                ),
            };
        };
        if let Ok(ifindex) = interface_index(interface) {
            match netlink::query_xdp(ifindex)? {
                Some(now) if now.program_id == pinned => detach_from(ifindex, now)?,
                _ => eprintln!(
                    "note: {interface} no longer runs {}'s program; removing the stale pin",
                    self.name
                ),
            }
        }
        fs::remove_file(&pin).with_context(|| format!("cannot remove {}", pin.display()))?;
        self.sweep_variant_records()?;
        self.remove_if_unused()
    }

    /// Once nothing is attached, the maps and the project's bpffs directory go too.
    fn remove_if_unused(&self) -> Result<()> {
        if self.pins()?.is_empty() && own_dir(&self.dir(), false)? {
            remove_dir_contents(&self.maps_dir())?;
            variant::sweep(&self.variants_dir(), &[]);
            let _ = fs::remove_dir(self.maps_dir());
            let _ = fs::remove_dir(self.progs_dir());
            let _ = fs::remove_dir(self.dir());
        }
        Ok(())
    }

    /// Every interface with a pin, and what the kernel runs there now; then
    /// interfaces that run a program of ours (by the names in `ours`)
    /// without a pin, as the kernel reports them.
    pub fn attachments(&self, ours: &[String]) -> Result<Vec<Attachment>> {
        let mut found = self.pinned_attachments()?;
        for (interface, _, now) in netlink::all_xdp()? {
            if !found.iter().any(|a| a.interface == interface) && is_ours(now.program_id, ours) {
                found.push(Attachment {
                    interface,
                    mode: format!("{} (no pin)", now.mode_name()),
                    program: program_name(now.program_id).unwrap_or_else(|| "?".into()),
                    program_id: now.program_id,
                    running: Some(true),
                    variant: None,
                });
            }
        }
        Ok(found)
    }

    fn pinned_attachments(&self) -> Result<Vec<Attachment>> {
        let mut found = Vec::new();
        for (interface, pin) in self.pins()? {
            let info = ProgramInfo::from_pin(&pin).ok();
            let program_id = info.as_ref().map(|i| i.id()).unwrap_or(0);
            let program = info
                .as_ref()
                .and_then(|i| i.name_as_str().map(str::to_string))
                .unwrap_or_else(|| "?".into());
            let mode = match interface_index(&interface) {
                Err(_) => "gone",
                Ok(ifindex) => match netlink::query_xdp(ifindex)? {
                    Some(now) if info.is_some() && now.program_id == program_id => now.mode_name(),
                    Some(_) => "replaced",
                    None => "stale",
                },
            };
            found.push(Attachment {
                interface,
                running: Some(!Attachment::NOT_RUNNING_MODES.contains(&mode)),
                mode: mode.into(),
                program,
                variant: variant::recorded(&self.variants_dir(), program_id)
                    .map(|kernel| kernel.to_string()),
                program_id,
            });
        }
        Ok(found)
    }

    /// Per-action counters summed over CPUs.
    pub fn counters(&self) -> Result<[Counter; 5]> {
        let map = self.pinned_map("xdp_stats")?;
        let stats: PerCpuArray<MapData, Counter> = PerCpuArray::try_from(map)?;
        let mut totals = [Counter::default(); 5];
        for (slot, total) in totals.iter_mut().enumerate() {
            for per_cpu in stats.get(&(slot as u32), 0)?.iter() {
                total.packets += per_cpu.packets;
                total.bytes += per_cpu.bytes;
            }
        }
        Ok(totals)
    }

    /// Opens one of this project's pinned maps.
    pub fn pinned_map(&self, name: &str) -> Result<Map> {
        let path = self.maps_dir().join(name);
        let checked = own_dir(&self.dir(), false)? && own_dir(&self.maps_dir(), false)?;
        if !checked || fs::symlink_metadata(&path).is_err() {
            // Not ours anywhere; but the kernel may run other tools' programs.
            let others: Vec<String> = netlink::all_xdp()
                .unwrap_or_default()
                .into_iter()
                .map(|(interface, _, now)| {
                    format!("{interface} ({})", describe_program(now.program_id))
                })
                .collect();
            let others = if others.is_empty() {
                String::new()
            } else {
                format!(
                    "; XDP programs of other tools run on: {}",
                    others.join(", ")
                )
            };
            bail!(
                "{} is not attached anywhere (no {}): attach it first with `{} attach \
                 IFACE`{others}",
                self.name,
                path.display(),
                self.command()
            );
        }
        let data =
            MapData::from_pin(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Map::from_map_data(data)?)
    }

    /// (interface, pin path) for every program pin, sorted by interface.
    pub(crate) fn pins(&self) -> Result<Vec<(String, PathBuf)>> {
        if !own_dir(&self.dir(), false)? || !own_dir(&self.progs_dir(), false)? {
            return Ok(Vec::new());
        }
        let entries = match fs::read_dir(self.progs_dir()) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                bail!("cannot read {}: run as root", self.progs_dir().display())
            }
            Err(error) => return Err(error.into()),
        };
        let mut pins = Vec::new();
        for entry in entries {
            let entry = entry?;
            // The interface's name, as pin_for wrote it.
            let interface = entry.file_name().to_string_lossy().replace(':', ".");
            pins.push((interface, entry.path()));
        }
        crate::sort_short(&mut pins);
        Ok(pins)
    }
}

fn pinned_program_id(pin: &Path) -> Option<u32> {
    ProgramInfo::from_pin(pin).ok().map(|info| info.id())
}

/// `<object>.sections` beside a kern object whose legacy sections cargo xdp
/// build renamed to `xdp`: (old section, function) pairs.
pub(crate) fn renamed_sections(object: &Path) -> Vec<(String, String)> {
    fs::read_to_string(object.with_extension("sections"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (section, function) = line.split_once(' ')?;
            Some((section.to_string(), function.to_string()))
        })
        .collect()
}

/// What an interface's frames start with, from its link type (ARPHRD_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// An Ethernet header (Ethernet, Wi-Fi, veth, loopback's zeroed one).
    Ethernet,
    /// The IP header: cellular data (`rmnet_data*`, ARPHRD_RAWIP), tun
    /// (ARPHRD_NONE), IP-in-IP and SIT tunnels, GRE, PPP.
    RawIp,
}

/// The suffix of a program's raw-IP variant: `xdp_filter_rawip` is
/// `xdp_filter` for interfaces without an Ethernet header (AOSP ships its
/// XDP programs as RAWIP and ETHER variants the same way).
pub const RAWIP_SUFFIX: &str = "_rawip";

impl Link {
    pub fn from_arphrd(link_type: u16) -> Link {
        // ARPHRD_PPP, _TUNNEL, _TUNNEL6, _SIT, _IPGRE, _IP6GRE, _RAWIP, _NONE.
        match link_type {
            512 | 768 | 769 | 776 | 778 | 823 | 519 | 65534 => Link::RawIp,
            _ => Link::Ethernet,
        }
    }
}

/// The XDP program of `ebpf` to attach (see choose_program) on a `link`:
/// where the interface carries raw IP and the chosen program has a
/// `<name>_rawip` variant, the variant. Variants are never candidates of
/// their own (an object with `f` and `f_rawip` has one program to choose);
/// programs of other types in the same object (tc, kprobe ...) are never
/// candidates either, and naming one is an error that says what it is.
pub(crate) fn choose_xdp_program(
    ebpf: &aya::Ebpf,
    object: &Path,
    wanted: Option<&str>,
    default: Option<&str>,
    link: Link,
) -> Result<Chosen> {
    let sections = renamed_sections(object);
    let mut xdp = Vec::new();
    let mut others = Vec::new();
    for (name, program) in ebpf.programs() {
        match program {
            aya::programs::Program::Xdp(_) => xdp.push(name.to_string()),
            other => others.push((name.to_string(), other.prog_type())),
        }
    }
    if let Some(wanted) = wanted {
        let section_of = |function: &str| {
            sections
                .iter()
                .find(|(_, f)| f == function)
                .map(|(s, _)| s.clone())
        };
        let named = others
            .iter()
            .find(|(name, _)| name == wanted || section_of(name).as_deref() == Some(wanted));
        if let Some((name, kind)) = named {
            bail!(
                "program `{name}` (section `{}`) is a {kind:?} program, not XDP: cargo-xdp \
                 attaches XDP programs only; the object's XDP programs: {}",
                section_of(name).unwrap_or_else(|| "?".into()),
                xdp.join(", ")
            );
        }
    }
    let candidates = attach_candidates(&xdp, wanted);
    let xdp_sections: Vec<(String, String)> = sections
        .into_iter()
        .filter(|(_, function)| candidates.contains(function))
        .collect();
    let chosen = choose_program(&candidates, &xdp_sections, wanted, default)?;
    Ok(variant_for_link(&xdp, chosen, link))
}

/// The programs to choose from: every XDP program but the `_rawip`
/// variants of others, unless `wanted` names one.
fn attach_candidates(xdp: &[String], wanted: Option<&str>) -> Vec<String> {
    if wanted.is_some_and(|w| xdp.iter().any(|n| n == w)) {
        return xdp.to_vec();
    }
    xdp.iter()
        .filter(|name| {
            !name
                .strip_suffix(RAWIP_SUFFIX)
                .is_some_and(|base| xdp.iter().any(|n| n == base))
        })
        .cloned()
        .collect()
}

/// `chosen`, or its raw-IP variant where the link has no Ethernet header.
fn variant_for_link(xdp: &[String], chosen: String, link: Link) -> Chosen {
    if link == Link::Ethernet || chosen.ends_with(RAWIP_SUFFIX) {
        return Chosen {
            name: chosen,
            rawip_variant: false,
            unsure: false,
        };
    }
    let variant = format!("{chosen}{RAWIP_SUFFIX}");
    if xdp.contains(&variant) {
        Chosen {
            name: variant,
            rawip_variant: true,
            unsure: false,
        }
    } else {
        Chosen {
            name: chosen,
            rawip_variant: false,
            unsure: true,
        }
    }
}

/// The program choose_xdp_program picked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chosen {
    pub name: String,
    /// The raw-IP variant, for an interface without an Ethernet header.
    pub rawip_variant: bool,
    /// The interface carries raw IP and the program has no variant for it.
    pub unsure: bool,
}

/// The program to attach: by function name, else by the (old) section name.
pub(crate) fn choose_program(
    names: &[String],
    sections: &[(String, String)],
    wanted: Option<&str>,
    default: Option<&str>,
) -> Result<String> {
    let listed = names.join(", ");
    let in_section: Vec<&String> = sections
        .iter()
        .filter(|(section, _)| Some(section.as_str()) == wanted)
        .map(|(_, function)| function)
        .collect();
    // The template's default only where the object has it: a user's own
    // kern source with one program needs no --prog.
    let default = default.filter(|d| names.iter().any(|n| n == d));
    match wanted.or(default) {
        Some(name) if names.iter().any(|n| n == name) => Ok(name.to_string()),
        Some(_) if in_section.len() == 1 => Ok(in_section[0].clone()),
        Some(name) if in_section.len() > 1 => bail!(
            "section `{name}` has several programs ({}): choose one by name with --prog",
            in_section
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(name) => {
            bail!("no program `{name}` in the object; it has: {listed} (choose with --prog)")
        }
        None if names.len() == 1 => Ok(names[0].clone()),
        None if names.is_empty() => bail!("the object has no XDP program"),
        None => bail!("the object has several programs ({listed}): choose one with --prog"),
    }
}

/// Attaches in the first mode of `mode.tries()` the interface accepts.
fn attach_with_fallback(ifindex: u32, fd: i32, interface: &str, mode: Mode) -> Result<()> {
    let mut refusals = Vec::new();
    for &(flags, name) in mode.tries() {
        match netlink::set_xdp(ifindex, fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST) {
            Ok(()) => return Ok(()),
            Err(error) => refusals.push(format!("{name} mode: {error}")),
        }
    }
    bail!(
        "the kernel refused to attach to {interface} ({})",
        refusals.join("; ")
    )
}

fn detach_from(ifindex: u32, now: Attached) -> Result<()> {
    netlink::set_xdp(ifindex, -1, now.mode_flags())
        .map_err(|e| anyhow!("the kernel refused to detach: {e}"))
}

pub(crate) fn refused(program: &str, error: ProgramError) -> anyhow::Error {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => anyhow!(
            "{}",
            crate::verifier::explain(program, &io_error.to_string(), &verifier_log.to_string())
        ),
        other => anyhow!(other).context(format!("cannot load program `{program}`")),
    }
}

/// `name` and `part` joined in the name's own style: `-` if it has one.
fn joined(name: &str, part: &str) -> String {
    let separator = if name.contains('-') { '-' } else { '_' };
    format!("{name}{separator}{part}")
}

pub fn require_root() -> Result<()> {
    require_root_for("attaching XDP programs")
}

/// `what` needs root (bpf(), netlink, the pins under /sys/fs/bpf): an
/// error saying so, never a half answer read without it.
pub fn require_root_for(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "{what} needs root (bpf() and netlink, the pins under /sys/fs/bpf): run this as \
             root, e.g. with sudo (on a phone, `su 0`, or `cargo xdp loader --adb` from the host)"
        );
    }
    Ok(())
}

/// The kernel's name of program `id` (the first 15 bytes of its function).
fn program_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_string))
}

impl Project {
    /// Why `interface`, which runs `now`, is not ours to attach to: whose
    /// program it is (another cargo-xdp project's, by its pin, or another
    /// tool's) and the command that takes it off.
    fn someone_elses(&self, interface: &str, now: &Attached) -> String {
        let program = describe_program(now.program_id);
        let mode = now.mode_name();
        match owner_of(&self.bpffs, now.program_id) {
            Some(owner) => format!(
                "{interface} runs the cargo-xdp project `{owner}` ({program}, {mode} mode), not \
                 {}: detach it first, from that project with `cargo xdp deploy --adb \
                 {interface} --detach` (on a device) or `{} detach {interface}` as root, then \
                 attach again",
                self.name,
                joined(&owner, "user")
            ),
            None => format!(
                "{interface} runs an XDP program that no cargo-xdp project attached \
                 ({program}, {mode} mode): another tool's; remove it first, as root where it \
                 runs, with `ip link set dev {interface} xdp off`, then attach again"
            ),
        }
    }
}

/// The cargo-xdp project whose pin (`BPFFS/NAME/progs/*`) holds program
/// `id`, if any.
fn owner_of(bpffs: &Path, id: u32) -> Option<String> {
    for project in fs::read_dir(bpffs).ok()?.flatten() {
        let Ok(pins) = fs::read_dir(project.path().join("progs")) else {
            continue;
        };
        for pin in pins.flatten() {
            if pinned_program_id(&pin.path()) == Some(id) {
                return Some(project.file_name().to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// "id 42, xdp_prog" for messages about programs that are not ours.
fn describe_program(id: u32) -> String {
    match program_name(id) {
        Some(name) if !name.is_empty() => format!("id {id}, `{name}`"),
        _ => format!("id {id}"),
    }
}

/// Program `id` is one of `ours`, by the name the kernel keeps (function
/// names cut to 15 bytes).
fn is_ours(id: u32, ours: &[String]) -> bool {
    let Some(name) = program_name(id) else {
        return false;
    };
    !name.is_empty()
        && ours
            .iter()
            .any(|o| o.as_bytes()[..o.len().min(15)] == *name.as_bytes())
}

/// Interface names as cargo-xdp takes them: 1 to 15 of `[A-Za-z0-9_.:-]`,
/// and not `.` or `..` (which Linux refuses too). Checked before a name
/// becomes part of a pin path or reaches the kernel.
pub fn check_interface(interface: &str) -> Result<()> {
    let valid = !interface.is_empty()
        && interface.len() <= 15
        && interface != "."
        && interface != ".."
        && interface
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        bail!(
            "`{interface}` is not an interface name: Linux allows 1 to 15 of A-Z a-z 0-9 _ . - \
             (e.g. wlan0, rmnet_data0, eth0.100)"
        );
    }
    Ok(())
}

/// The interface's index; refuses names no kernel accepts before asking.
pub fn interface_index(interface: &str) -> Result<u32> {
    check_interface(interface)?;
    let name = CString::new(interface)?;
    // SAFETY: name is a valid C string for the duration of the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => bail!("no such interface `{interface}` (see `ip link`)"),
        index => Ok(index),
    }
}

/// The name of interface `index`, if it (still) exists.
pub fn interface_name(index: u32) -> Option<String> {
    let mut buffer = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname needs.
    let name = unsafe { libc::if_indextoname(index, buffer.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into the buffer.
    let name = unsafe { std::ffi::CStr::from_ptr(buffer.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, which is 64 KiB on
/// many phones: lift it for this process. Without CAP_SYS_RESOURCE (some
/// containers) only up to the hard limit; newer kernels do not use it.
pub(crate) fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid rlimit structs.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) != 0 {
            let mut limit: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
            }
        }
    }
}

fn is_bpffs(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut info: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(path.as_ptr(), &mut info) } == 0) && info.f_type as u32 == BPF_FS_MAGIC
}

/// Pins need bpffs: the one at `dir`, else a new one mounted there, but
/// only on a missing or empty directory (never over files), and saying so;
/// it stays mounted, as the pins live in it.
pub(crate) fn ensure_bpffs(dir: &Path) -> Result<()> {
    if is_bpffs(dir) {
        return Ok(());
    }
    let fix = format!(
        "mount it with `mount -t bpf bpf {}` or pass --bpffs DIR",
        dir.display()
    );
    if let Ok(mut entries) = fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not a bpffs and is not empty: refusing to mount a bpffs over its files; \
                 pass --bpffs with a bpffs (`mount | grep bpf`) or an empty or new directory",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "bpffs is not mounted at {} and the directory cannot be created; {fix}",
            dir.display()
        )
    })?;
    let target = CString::new(dir.as_os_str().as_encoded_bytes())?;
    let bpf = CString::new("bpf")?;
    // Root's alone: the kernel's default for a new bpffs is 1777.
    let options = CString::new("mode=0700")?;
    // SAFETY: valid C strings; bpffs takes its options as a string.
    let rc = unsafe {
        libc::mount(
            bpf.as_ptr(),
            target.as_ptr(),
            bpf.as_ptr(),
            0,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 || !is_bpffs(dir) {
        bail!(
            "bpffs is not mounted at {} and mounting it failed ({}); {fix}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    eprintln!(
        "note: mounted a bpffs at {} (it stays mounted: the pins live there)",
        dir.display()
    );
    Ok(())
}

/// Removes the pins in one of our checked bpffs directories (a missing one
/// has none); the entries themselves, never what a link names.
fn remove_dir_contents(dir: &Path) -> Result<()> {
    if !own_dir(dir, false)? {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        fs::remove_file(entry?.path())?;
    }
    Ok(())
}

/// A directory of ours in bpffs (the project's, its `maps`/`progs`, a
/// test run's scratch): made 0700 where `create` and it is missing, then
/// refused unless it is a real directory (not a link) on a bpffs, owned by
/// root and writable by no one else. False: missing (and not created).
pub(crate) fn own_dir(dir: &Path, create: bool) -> Result<bool> {
    if create {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(error) if error.kind() != ErrorKind::AlreadyExists => {
                return Err(anyhow!(error).context(format!("cannot create {}", dir.display())))
            }
            _ => {}
        }
    }
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(false),
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            bail!("cannot read {}: run as root", dir.display())
        }
        Err(error) => return Err(anyhow!(error).context(format!("cannot read {}", dir.display()))),
    };
    let fix = format!(
        "remove it as root (`rm -rf {}`; pins go with it) and attach again",
        dir.display()
    );
    if !meta.file_type().is_dir() {
        bail!(
            "{} is not a directory (a link?), and the loader follows nothing in bpffs it did not \
             make: {fix}",
            dir.display()
        );
    }
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} is not root's alone (owner uid {}, mode {:o}): another user could change the pins \
             in it; {fix}",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        );
    }
    if !is_bpffs(dir) {
        bail!(
            "{} is not on a bpffs (something is mounted over it?): {fix}",
            dir.display()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ip_links_get_the_rawip_variant_and_variants_are_no_candidates() {
        assert_eq!(Link::from_arphrd(1), Link::Ethernet);
        for raw in [519, 65534, 768, 512] {
            assert_eq!(Link::from_arphrd(raw), Link::RawIp, "{raw}");
        }
        let xdp: Vec<String> = ["xdp_filter", "xdp_filter_rawip", "other"]
            .map(String::from)
            .to_vec();
        assert_eq!(attach_candidates(&xdp, None), ["xdp_filter", "other"]);
        assert_eq!(attach_candidates(&xdp, Some("xdp_filter_rawip")).len(), 3);
        let chosen = variant_for_link(&xdp, "xdp_filter".into(), Link::RawIp);
        assert!(chosen.rawip_variant && chosen.name == "xdp_filter_rawip");
        let chosen = variant_for_link(&xdp, "other".into(), Link::RawIp);
        assert!(chosen.unsure && chosen.name == "other");
        let chosen = variant_for_link(&xdp, "xdp_filter".into(), Link::Ethernet);
        assert!(!chosen.rawip_variant && !chosen.unsure && chosen.name == "xdp_filter");
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn interface_names_never_become_other_paths() {
        for good in ["wlan0", "rmnet_data0", "eth0.100", "a23456789012345"] {
            check_interface(good).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "../maps/x",
            "a234567890123456",
            "w lan",
            "wlan0;id",
            "eth0:1",
        ] {
            assert!(check_interface(bad).is_err(), "{bad}");
        }
        let project = Project {
            name: "p",
            bpffs: PathBuf::from("/sys/fs/bpf"),
            invoked_as: None,
        };
        assert_eq!(project.command(), "p_user");
        let hyphenated = Project {
            name: "wifi-guard",
            bpffs: PathBuf::from("/sys/fs/bpf"),
            invoked_as: None,
        };
        assert_eq!(
            (hyphenated.command(), hyphenated.kern_stem()),
            ("wifi-guard-user".to_string(), "wifi-guard-kern".to_string())
        );
        assert_eq!(
            project.pin_for("wlan0"),
            Path::new("/sys/fs/bpf/p/progs/wlan0")
        );
        assert_eq!(project.maps_dir(), Path::new("/sys/fs/bpf/p/maps"));
        // bpffs takes no dots: a VLAN device's pin has a colon instead.
        assert_eq!(
            project.pin_for("eth0.100"),
            Path::new("/sys/fs/bpf/p/progs/eth0:100")
        );
    }

    /// A bpffs the loader mounts is root's alone (the kernel's default is
    /// 1777), and its directories are checked, not trusted. Needs root
    /// (CI runs as root); elsewhere it says so and checks nothing.
    #[test]
    fn a_bpffs_of_ours_is_root_only_and_checked() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("a_bpffs_of_ours_is_root_only_and_checked: not root, skipped");
            return;
        }
        let dir = std::env::temp_dir().join(format!("cxl-mount-{}", std::process::id()));
        ensure_bpffs(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().mode() & 0o7777;
        let project = dir.join("p");
        let made = own_dir(&project, true);
        let link = dir.join("link");
        std::os::unix::fs::symlink("/tmp", &link).unwrap();
        let linked = own_dir(&link, false).map_err(|e| e.to_string());
        fs::create_dir(dir.join("open")).unwrap();
        fs::set_permissions(dir.join("open"), fs::Permissions::from_mode(0o777)).unwrap();
        let open = own_dir(&dir.join("open"), false).map_err(|e| e.to_string());
        let missing = own_dir(&dir.join("missing"), false).unwrap();
        let target = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string naming the bpffs mounted above.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let outside = own_dir(&dir, false).map_err(|e| e.to_string());
        fs::remove_dir(&dir).unwrap();
        // (bpffs always adds the sticky bit to its root.)
        assert_eq!(mode, 0o1700);
        assert!(made.unwrap());
        assert!(linked.unwrap_err().contains("is not a directory (a link?)"));
        assert!(open.unwrap_err().contains("is not root's alone"));
        assert!(!missing);
        assert!(outside.unwrap_err().contains("is not on a bpffs"));
    }

    #[test]
    fn bpffs_is_never_mounted_over_files() {
        let dir = std::env::temp_dir().join(format!("cxl-bpffs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("precious"), "x").unwrap();
        let error = ensure_bpffs(&dir).unwrap_err().to_string();
        assert!(error.contains("is not empty: refusing to mount"), "{error}");
        assert!(dir.join("precious").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
