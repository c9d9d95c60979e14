//! Checks on what was built, before it goes into a bundle.

use std::path::Path;

use anyhow::{bail, Context, Result};
use object::{
    elf,
    read::elf::{Dyn, ElfFile, FileHeader, ProgramHeader},
    read::{ReadCache, ReadRef},
    Architecture, Endianness, Object, ObjectSection, ObjectSymbol,
};

use crate::toolchain::{ElfMachine, Target};

/// A kern object must be BPF, little-endian, with an `xdp` program section
/// and a `license` (the kernel refuses GPL-only helpers without one).
pub fn check_kern_bytes(path: &Path, data: &[u8]) -> Result<Vec<ProgramSection>> {
    let file = object::File::parse(data)
        .with_context(|| format!("{} is not an ELF object", path.display()))?;
    if file.architecture() != Architecture::Bpf {
        bail!(
            "{} is not a BPF object (machine {:?})",
            path.display(),
            file.architecture()
        );
    }
    if !file.is_little_endian() {
        bail!(
            "{} is big-endian BPF; phones and x86/arm64 boards need little-endian",
            path.display()
        );
    }
    let programs = program_sections(&file);
    let names: Vec<&str> = file.sections().filter_map(|s| s.name().ok()).collect();
    if !programs.iter().any(|p| {
        matches!(
            classify(&p.name),
            SectionKind::Xdp | SectionKind::Legacy { .. }
        )
    }) {
        bail!(
            "{} has no XDP program: mark one with SEC(\"xdp\") (sections found: {})",
            path.display(),
            names.join(" ")
        );
    }
    if !names.contains(&"license") {
        bail!(
            "{} has no `license` section: add `char _license[] SEC(\"license\") = \"GPL\";`",
            path.display()
        );
    }
    check_aya_reads(&file, data)?;
    check_no_externs(&file)?;
    Ok(programs)
}

/// Kernel functions and symbols the object takes from the running kernel
/// (`extern ... __ksym`, kfuncs; `__kconfig`): aya 0.14 parses such an
/// object but cannot relocate them, so the attach would fail with a BTF
/// error. Refused here instead, each one named.
fn check_no_externs(file: &object::File) -> Result<()> {
    let externs: Vec<String> = file
        .symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect();
    if externs.is_empty() {
        return Ok(());
    }
    bail!(
        "the object takes {} from the running kernel (`extern ... __ksym`: kernel functions, \
         kfuncs; or `__kconfig` values), and aya 0.14, the loader's library, cannot relocate \
         those (it would fail at attach; aya 0.16 can, and needs Rust 1.98): remove the calls, \
         or use helpers (`bpf_*` from <bpf/bpf_helpers.h>) instead",
        externs
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The generated loader reads objects with aya 0.14: what its parser
/// refuses is refused here, with the fix where it is known.
fn check_aya_reads(file: &object::File, data: &[u8]) -> Result<()> {
    let Err(error) = aya_obj::Object::parse(data) else {
        return Ok(());
    };
    let error = format!("{:#}", anyhow::Error::new(error));
    // `__array(values, ...)` of a map of maps filled from C with maps (a
    // PROG_ARRAY filled with programs is rewritten at build time, see ir.rs)
    // puts a `values` member into the map's BTF that aya 0.14 cannot read.
    let btf_names_values = file
        .section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .is_some_and(|btf| btf.windows(8).any(|w| w == b"\0values\0"));
    if btf_names_values && error.contains("BTF") {
        bail!(
            "a map is declared with `__array(values, ...)` in a way aya 0.14, the loader's \
             library, cannot read ({error}); cargo-xdp moves the programs of a PROG_ARRAY \
             filled in C to the loader, but not maps filled into a map of maps: fill an inner \
             map from the loader instead, or for a PROG_ARRAY declare `__type(key, __u32); \
             __type(value, __u32);` and fill it at attach: `attach IFACE --tail \
             MAP:INDEX=PROGRAM`"
        );
    }
    bail!("aya 0.14, the loader's library, cannot read the object: {error}")
}

/// A section of code in a kern object, and the functions (programs) in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramSection {
    pub name: String,
    pub functions: Vec<String>,
}

/// How the loader (aya 0.14) takes a program section.
#[derive(Debug, PartialEq)]
pub enum SectionKind {
    /// `xdp`, `xdp.frags`, and those `/cpumap` or `/devmap`.
    Xdp,
    /// A program aya knows that is not XDP (tc, kprobe ...): not attached.
    Other,
    /// A name aya refuses (`xdp_pass`, `xdp1`, `prog`, `xdp/foo`): older
    /// loaders took any name; cargo-xdp renames it to `to` at build time.
    Legacy { to: &'static str },
    /// A program of another type whose section name aya 0.14 cannot parse
    /// (libbpf's `tc`, `tcx/ingress`, AOSP's `schedcls/...`): renamed to
    /// aya's `classifier` only so the object parses; never attached.
    NotXdp { kind: &'static str },
}

/// Program kinds aya-obj 0.3 (aya 0.14) parses from a section's first `/` piece.
const AYA_KINDS: &[&str] = &[
    "kprobe",
    "kretprobe",
    "uprobe",
    "uprobe.s",
    "uretprobe",
    "uretprobe.s",
    "tp_btf",
    "tracepoint",
    "tp",
    "socket",
    "sk_msg",
    "sk_skb",
    "sockops",
    "classifier",
    "cgroup_skb",
    "cgroup",
    "lirc_mode2",
    "perf_event",
    "raw_tp",
    "raw_tracepoint",
    "lsm",
    "lsm.s",
    "lsm_cgroup",
    "fentry",
    "fentry.s",
    "fexit",
    "fexit.s",
    "flow_dissector",
    "freplace",
    "sk_lookup",
    "sk_reuseport",
    "iter",
    "iter.s",
];

/// Program kinds of libbpf and of AOSP's bpf_helpers.h that aya 0.14
/// cannot parse by name, with what they are: never XDP.
const OTHER_KINDS: &[(&str, &str)] = &[
    ("tc", "tc"),
    ("tcx", "tc"),
    ("netkit", "tc"),
    ("action", "tc action"),
    ("schedcls", "tc"),
    ("schedact", "tc action"),
    ("skfilter", "socket filter"),
    ("cgroupskb", "cgroup skb"),
    ("cgroupsock", "cgroup sock"),
    ("lwt_in", "lwt"),
    ("lwt_out", "lwt"),
    ("lwt_xmit", "lwt"),
    ("lwt_seg6local", "lwt"),
    ("netfilter", "netfilter"),
    ("struct_ops", "struct_ops"),
    ("struct_ops.s", "struct_ops"),
    ("syscall", "syscall"),
    ("usdt", "usdt"),
    ("ksyscall", "kprobe"),
    ("kretsyscall", "kprobe"),
    ("fmod_ret", "fmod_ret"),
    ("fmod_ret.s", "fmod_ret"),
];

/// The aya section kind a NotXdp program is renamed to.
pub const NOT_XDP_SECTION: &str = "classifier";

pub fn classify(section: &str) -> SectionKind {
    let mut pieces = section.split('/');
    let kind = pieces.next().unwrap_or_default();
    let rest: Vec<&str> = pieces.collect();
    match kind {
        "xdp" | "xdp.frags" => match rest.as_slice() {
            [] | ["cpumap"] | ["devmap"] => SectionKind::Xdp,
            _ if kind == "xdp" => SectionKind::Legacy { to: "xdp" },
            _ => SectionKind::Legacy { to: "xdp.frags" },
        },
        kind if AYA_KINDS.contains(&kind) => SectionKind::Other,
        kind => match OTHER_KINDS.iter().find(|(name, _)| *name == kind) {
            Some((_, what)) => SectionKind::NotXdp { kind: what },
            None => SectionKind::Legacy { to: "xdp" },
        },
    }
}

/// Every executable section but `.text` (subprograms), with its functions.
pub fn program_sections(file: &object::File) -> Vec<ProgramSection> {
    file.sections()
        .filter(|s| {
            matches!(s.flags(), object::SectionFlags::Elf { sh_flags }
                if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0)
        })
        .filter_map(|section| {
            let name = section.name().ok()?;
            (name != ".text").then(|| ProgramSection {
                name: name.to_string(),
                functions: file
                    .symbols()
                    .filter(|sym| {
                        sym.kind() == object::SymbolKind::Text
                            && sym.section_index() == Some(section.index())
                    })
                    .filter_map(|sym| sym.name().ok().map(str::to_string))
                    .filter(|n| !n.is_empty())
                    .collect(),
            })
        })
        .collect()
}

/// The loader must run on the target: ELF machine, and for Android a PIE
/// through bionic's linker with LOAD segments aligned for 16 KB pages; for
/// boards a static executable.
/// Returns what it read, for the steps after it.
pub fn check_loader(path: &Path, target: &Target) -> Result<LoaderFacts> {
    let facts = LoaderFacts::read(path)?;
    let problems = loader_problems(&facts, target);
    if problems.is_empty() {
        return Ok(facts);
    }
    bail!(
        "the loader {} cannot run on {}: {}; check the linker and flags cargo used for {} \
         (`cargo xdp build -v` shows them)",
        path.display(),
        target.name,
        problems.join("; "),
        target.triple
    )
}

/// What the loader checks look at, read once.
#[derive(Debug, Default)]
pub struct LoaderFacts {
    pub machine: Option<Architecture>,
    /// 32 or 64 (ELFCLASS32/ELFCLASS64).
    pub bits: u8,
    /// ET_DYN: position independent (a PIE when it also has an interpreter).
    pub position_independent: bool,
    pub interpreter: Option<String>,
    pub load_alignments: Vec<u64>,
    pub needed: Vec<String>,
    pub has_symtab: bool,
}

impl LoaderFacts {
    /// Reads only the headers and tables it needs (a debug loader is 25 MB).
    pub fn read(path: &Path) -> Result<LoaderFacts> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let cache = ReadCache::new(file);
        let facts = match object::FileKind::parse(&cache) {
            Ok(object::FileKind::Elf32) => Self::parse::<elf::FileHeader32<Endianness>, _>(&cache),
            _ => Self::parse::<elf::FileHeader64<Endianness>, _>(&cache),
        };
        facts.with_context(|| format!("{} is not an ELF executable", path.display()))
    }

    fn parse<'data, Elf, R>(data: R) -> Result<LoaderFacts>
    where
        Elf: FileHeader<Endian = Endianness>,
        R: ReadRef<'data>,
    {
        let elf = ElfFile::<Elf, R>::parse(data)?;
        let endian = elf.endian();
        let mut facts = LoaderFacts {
            machine: Some(elf.architecture()),
            bits: if elf.is_64() { 64 } else { 32 },
            position_independent: elf.elf_header().e_type(endian) == elf::ET_DYN,
            has_symtab: elf.section_by_name(".symtab").is_some(),
            ..LoaderFacts::default()
        };
        for segment in elf.elf_program_headers() {
            match segment.p_type(endian) {
                elf::PT_LOAD => facts.load_alignments.push(segment.p_align(endian).into()),
                elf::PT_INTERP => {
                    let bytes = segment.data(endian, data).unwrap_or_default();
                    let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
                    facts.interpreter = Some(String::from_utf8_lossy(text).into_owned());
                }
                _ => {}
            }
        }
        facts.needed = needed_libraries(&elf)?;
        Ok(facts)
    }
}

fn needed_libraries<'data, Elf, R>(elf: &ElfFile<'data, Elf, R>) -> object::Result<Vec<String>>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let endian = elf.endian();
    let data = elf.data();
    let sections = elf.elf_section_table();
    let Some((dynamic, index)) = sections.dynamic(endian, data)? else {
        return Ok(Vec::new());
    };
    let strings = sections.strings(endian, data, index)?;
    Ok(dynamic
        .iter()
        .filter(|d| d.tag32(endian) == Some(elf::DT_NEEDED as i32))
        .filter_map(|d| strings.get(d.d_val(endian).into() as u32).ok())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect())
}

/// Everything wrong with `facts` for `target`, worded for the user.
pub fn loader_problems(facts: &LoaderFacts, target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = match target.elf_machine {
        ElfMachine::X86_64 => Architecture::X86_64,
        ElfMachine::Aarch64 => Architecture::Aarch64,
        ElfMachine::Arm => Architecture::Arm,
        ElfMachine::I386 => Architecture::I386,
    };
    if facts.machine != Some(expected) {
        problems.push(format!(
            "it is built for {:?}, the target needs {expected:?}",
            facts.machine.unwrap_or(Architecture::Unknown)
        ));
    }
    let bits = target.elf_machine.bits();
    if facts.bits != bits {
        problems.push(format!(
            "it is a {}-bit executable, the target needs a {bits}-bit one",
            facts.bits
        ));
    }
    if let Some(interpreter) = &target.interpreter {
        if facts.interpreter.as_deref() != Some(interpreter) {
            problems.push(format!(
                "its interpreter is {}, the target needs {interpreter}",
                facts.interpreter.as_deref().unwrap_or("none (static)")
            ));
        }
        if !facts.position_independent {
            problems.push("it is not position independent (Android runs PIE only)".into());
        }
    }
    if let Some(page) = target.page_size {
        if let Some(bad) = facts.load_alignments.iter().find(|a| **a % page != 0) {
            problems.push(format!(
                "a LOAD segment is aligned to {bad} bytes, not {page} (devices with {} KB pages \
                 cannot map it; link with -z max-page-size={page})",
                page / 1024
            ));
        }
    }
    if target.static_loader && (facts.interpreter.is_some() || !facts.needed.is_empty()) {
        problems.push(format!(
            "it is dynamically linked (needs {}), the target needs a static executable",
            if facts.needed.is_empty() {
                facts.interpreter.clone().unwrap_or_default()
            } else {
                facts.needed.join(", ")
            }
        ));
    }
    problems
}

/// True when the shared library at `path` exports `symbol` (false when
/// unreadable): used to find the API level that brought a libc function.
pub fn defines_dynamic_symbol(path: &Path, symbol: &str) -> bool {
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    let Ok(file) = object::File::parse(&*data) else {
        return false;
    };
    file.dynamic_symbols()
        .any(|s| !s.is_undefined() && s.name() == Ok(symbol))
}

/// The object without its DWARF (`.debug_*` and their relocations), as
/// `llvm-strip -g` leaves it: .BTF and .BTF.ext, which loading needs, stay.
/// In-process, so a kern compile starts one process (clang), not two.
pub fn strip_debug(data: &[u8]) -> Result<Vec<u8>> {
    let mut builder = object::build::elf::Builder::read(data).context("cannot read the object")?;
    let is_debug = |name: &[u8]| {
        [&b".debug"[..], b".rel.debug", b".rela.debug"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    };
    let mut deleted = Vec::new();
    for section in builder.sections.iter_mut() {
        if is_debug(section.name.as_slice()) {
            section.delete = true;
            deleted.push(section.id());
        }
    }
    // Section symbols of what went (llvm-strip drops them too).
    for symbol in builder.symbols.iter_mut() {
        if symbol.section.is_some_and(|id| deleted.contains(&id)) {
            symbol.delete = true;
        }
    }
    // LLVM names sections from .strtab, which the builder keeps for
    // symbols; it writes section names to a .shstrtab of their own.
    if !builder
        .sections
        .iter()
        .any(|s| matches!(s.data, object::build::elf::SectionData::SectionString))
    {
        let names = builder.sections.add();
        names.name = b".shstrtab"[..].into();
        names.sh_type = elf::SHT_STRTAB;
        names.sh_addralign = 1;
        names.data = object::build::elf::SectionData::SectionString;
    }
    let mut out = Vec::with_capacity(data.len());
    builder
        .write(&mut out)
        .context("cannot write the stripped object")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_aya_refuses_are_legacy_and_renamed() {
        for ok in ["xdp", "xdp.frags", "xdp/devmap", "xdp.frags/cpumap"] {
            assert_eq!(classify(ok), SectionKind::Xdp, "{ok}");
        }
        for legacy in ["xdp_pass", "xdp1", "prog", "xdp/foo", "xdp_icmp"] {
            assert_eq!(
                classify(legacy),
                SectionKind::Legacy { to: "xdp" },
                "{legacy}"
            );
        }
        assert_eq!(
            classify("xdp.frags/x"),
            SectionKind::Legacy { to: "xdp.frags" }
        );
        for other in [
            "classifier",
            "kprobe/tcp_v4_connect",
            "tracepoint/xdp/xdp_exception",
        ] {
            assert_eq!(classify(other), SectionKind::Other, "{other}");
        }
        for (tc, kind) in [
            ("tc", "tc"),
            ("tc/ingress", "tc"),
            ("tcx/egress", "tc"),
            ("schedcls/ingress/tether_downstream6_ether", "tc"),
            ("skfilter/allowlist/xtbpf", "socket filter"),
        ] {
            assert_eq!(classify(tc), SectionKind::NotXdp { kind }, "{tc}");
        }
    }
    use crate::toolchain;

    /// This test binary: x86_64, glibc's interpreter, 4 KB pages, dynamic.
    fn this_binary() -> std::path::PathBuf {
        std::env::current_exe().unwrap()
    }

    #[test]
    fn a_host_binary_passes_for_the_host_only() {
        check_loader(&this_binary(), &toolchain::find("linux-x86_64").unwrap()).unwrap();
        let phone = check_loader(&this_binary(), &toolchain::find("android-arm64").unwrap())
            .unwrap_err()
            .to_string();
        assert!(phone.contains("cannot run on android-arm64"), "{phone}");
        assert!(
            phone.contains("X86_64, the target needs Aarch64"),
            "{phone}"
        );
        assert!(
            phone.contains("the target needs /system/bin/linker64"),
            "{phone}"
        );
        let board = check_loader(&this_binary(), &toolchain::find("linux-arm64").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            board.contains("dynamically linked (needs ") && board.contains("libc.so.6"),
            "{board}"
        );
    }

    #[test]
    fn android_needs_pie_and_16k_pages() {
        let emulator = toolchain::find("android-x86_64").unwrap();
        let mut facts = LoaderFacts {
            machine: Some(Architecture::X86_64),
            position_independent: true,
            interpreter: Some("/system/bin/linker64".into()),
            load_alignments: vec![16384, 16384],
            needed: vec!["libc.so".into()],
            has_symtab: false,
            bits: 64,
        };
        assert!(loader_problems(&facts, &emulator).is_empty());
        facts.load_alignments.push(4096);
        facts.position_independent = false;
        let problems = loader_problems(&facts, &emulator).join("; ");
        assert!(
            problems.contains("aligned to 4096 bytes, not 16384"),
            "{problems}"
        );
        assert!(problems.contains("not position independent"), "{problems}");
    }

    #[test]
    fn a_32_bit_target_needs_a_32_bit_static_arm_executable() {
        let board = toolchain::find("linux-armv7").unwrap();
        let mut facts = LoaderFacts {
            machine: Some(Architecture::Arm),
            bits: 32,
            ..LoaderFacts::default()
        };
        assert!(loader_problems(&facts, &board).is_empty());
        facts.bits = 64;
        facts.interpreter = Some("/lib/ld-linux-armhf.so.3".into());
        let problems = loader_problems(&facts, &board).join("; ");
        assert!(
            problems.contains("a 64-bit executable, the target needs a 32-bit one")
                && problems.contains("dynamically linked (needs /lib/ld-linux-armhf.so.3)"),
            "{problems}"
        );
        // This (64-bit) binary read as what it is.
        assert_eq!(LoaderFacts::read(&this_binary()).unwrap().bits, 64);
    }

    #[test]
    fn kern_objects_must_be_bpf() {
        let binary = this_binary();
        let error = check_kern_bytes(&binary, &std::fs::read(&binary).unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a BPF object"), "{error}");
    }
    /// In-process stripping leaves what `llvm-strip -g` leaves, and the
    /// object still checks (aya-obj reads it, BTF and all).
    #[test]
    fn strip_debug_matches_llvm_strip() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("k.c");
        std::fs::write(
            &source,
            "struct { int (*type)[2]; int (*max_entries)[1]; int *key; long *value; } counts\n\
             __attribute__((section(\".maps\"), used));\n\
             static long *(*lookup)(void *map, const void *key) = (void *)1;\n\
             __attribute__((section(\"xdp\"), used)) int pass(void *ctx) {\n\
                 int zero = 0; long *n = lookup(&counts, &zero); if (n) *n += 1; return 2; }\n\
             char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n",
        )
        .unwrap();
        let object = dir.path().join("k.o");
        let clang = crate::clang::locate().unwrap();
        let status = std::process::Command::new(&clang)
            .args(["-O2", "-g", "-fno-addrsig", "-target", "bpf", "-c"])
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .unwrap();
        assert!(status.success());
        let built = std::fs::read(&object).unwrap();
        check_kern_bytes(&object, &built).unwrap();
        let ours = strip_debug(&built).unwrap();
        check_kern_bytes(&object, &ours).unwrap();
        let names = |data: &[u8]| -> Vec<String> {
            let file = object::File::parse(data).unwrap();
            let mut names: Vec<String> = file
                .sections()
                .map(|s| s.name().unwrap().to_string())
                .filter(|n| !n.is_empty())
                .collect();
            names.sort();
            names
        };
        let ours_names = names(&ours);
        assert!(
            ours_names.iter().all(|n| !n.contains(".debug")),
            "{ours_names:?}"
        );
        assert!(ours_names.contains(&".BTF".to_string()), "{ours_names:?}");
        assert!(ours.len() < built.len());
        if let Some(strip) = crate::clang::find_strip(&clang) {
            let status = std::process::Command::new(strip)
                .arg("-g")
                .arg(&object)
                .status()
                .unwrap();
            assert!(status.success());
            // Section names in a .shstrtab of their own: the one difference.
            let ours_names: Vec<String> = ours_names
                .into_iter()
                .filter(|n| n != ".shstrtab")
                .collect();
            assert_eq!(ours_names, names(&std::fs::read(&object).unwrap()));
        }
    }
}
