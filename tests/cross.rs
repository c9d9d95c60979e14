//! Cross builds: Android through the stand-in NDK (tests/fixtures/ndk),
//! linux-arm64 through rust-lld, and the checks on what they produce.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::*;
use object::{
    elf,
    read::elf::{ElfFile, FileHeader, ProgramHeader},
    Architecture, Endianness, Object, ObjectSection,
};

/// The file `name` out of a bundle, extracted into `dir`.
fn from_bundle(bundle: &Path, dir: &Path, name: &str) -> PathBuf {
    ok(Command::new("tar")
        .arg("xzf")
        .arg(bundle)
        .arg("-C")
        .arg(dir));
    let path = dir.join(name);
    assert!(path.is_file(), "{name} not in {}", bundle.display());
    path
}

/// The release bundle (the builds here are --release), or with
/// `bundle_in` another profile's.
fn bundle(project: &str, target: &str) -> PathBuf {
    bundle_in("release", project, target)
}

fn bundle_in(profile_dir: &str, project: &str, target: &str) -> PathBuf {
    shared_target_dir().join(format!(
        "xdp/{target}/{profile_dir}/{project}-{target}.tar.gz"
    ))
}

struct Elf {
    machine: Architecture,
    bits: u8,
    kind: u16,
    interpreter: Option<String>,
    load_aligns: Vec<u64>,
    has_symtab: bool,
    has_dynamic: bool,
    has_unwind_tables: bool,
}

/// Either ELF class.
fn read_elf(path: &Path) -> Elf {
    let data = fs::read(path).unwrap();
    match object::FileKind::parse(&*data) {
        Ok(object::FileKind::Elf32) => read_elf_of::<elf::FileHeader32<Endianness>>(&data),
        _ => read_elf_of::<elf::FileHeader64<Endianness>>(&data),
    }
}

fn read_elf_of<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> Elf {
    let file = ElfFile::<H>::parse(data).unwrap();
    let endian = file.endian();
    let mut info = Elf {
        machine: file.architecture(),
        bits: if file.is_64() { 64 } else { 32 },
        kind: file.elf_header().e_type(endian),
        interpreter: None,
        load_aligns: Vec::new(),
        has_symtab: file.section_by_name(".symtab").is_some(),
        has_dynamic: false,
        // The unwind tables and the exception tables they lead to.
        has_unwind_tables: [".eh_frame", ".gcc_except_table"]
            .iter()
            .any(|name| file.section_by_name(name).is_some_and(|s| s.size() > 0)),
    };
    for segment in file.elf_program_headers() {
        match segment.p_type(endian) {
            elf::PT_LOAD => info.load_aligns.push(segment.p_align(endian).into()),
            elf::PT_DYNAMIC => info.has_dynamic = true,
            elf::PT_INTERP => {
                let bytes = segment.data(endian, data).unwrap();
                info.interpreter =
                    Some(String::from_utf8_lossy(bytes).trim_end_matches('\0').into());
            }
            _ => {}
        }
    }
    info
}

/// A `$CARGO` that writes the environment of `cargo build` to `log`, then
/// runs the real cargo, or (`then_fail`) stops there.
fn env_logging_cargo(dir: &Path, log: &Path, then_fail: bool) -> PathBuf {
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let script = dir.join(format!("cargo-env-logger-{then_fail}"));
    let then = if then_fail {
        "exit 1".to_string()
    } else {
        format!("exec '{real}' \"$@\"")
    };
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = build ] || exec '{real}' \"$@\"\nenv >> '{}'\n{then}\n",
            log.display()
        ),
    )
    .unwrap();
    ok(Command::new("chmod").arg("+x").arg(&script));
    script
}

#[test]
fn android_loaders_link_through_the_ndk_with_the_right_elf_properties() {
    let (tmp, root) = new_project("droid", "filter");
    let ndk_log = tmp.path().join("ndk.log");
    let env_log = tmp.path().join("env.log");
    let out = ok(cargo_xdp_with_ndk()
        .current_dir(&root)
        .env("NDK_STANDIN_LOG", &ndk_log)
        .env("CARGO", env_logging_cargo(tmp.path(), &env_log, false))
        .args(["xdp", "build", "--release", "--message-format", "json"])
        .args(["--target", "android-arm64,android-x86_64"]));
    assert!(
        out.contains(r#""reason":"ndk""#) && out.contains(r#""release":"r26b""#),
        "{out}"
    );

    for (target, triple, machine) in [
        (
            "android-arm64",
            "aarch64-linux-android",
            Architecture::Aarch64,
        ),
        (
            "android-x86_64",
            "x86_64-linux-android",
            Architecture::X86_64,
        ),
    ] {
        let unpacked = tempfile::tempdir().unwrap();
        let loader = from_bundle(
            &bundle("droid", target),
            unpacked.path(),
            "droid/droid_user",
        );
        let info = read_elf(&loader);
        assert_eq!(info.machine, machine, "{target}");
        assert_eq!(info.kind, elf::ET_DYN, "{target}: a PIE");
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/system/bin/linker64"),
            "{target}"
        );
        assert!(
            info.load_aligns.iter().all(|a| a % 16384 == 0),
            "{target}: {:?}",
            info.load_aligns
        );
        assert!(!info.has_symtab, "{target}: release loaders are stripped");
        assert!(
            !info.has_unwind_tables,
            "{target}: panic = abort, so no unwind tables"
        );
        // Panic locations name sources as `cargo-xdp-loader/src/..`, never by
        // this machine's paths (the runtime's checkout, the project, cargo's).
        let bytes = fs::read(&loader).unwrap();
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let home = std::env::var("CARGO_HOME")
            .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
        for path in [
            format!("{}/", checkout.display()),
            format!("{}/", root.display()),
            format!("{home}/registry"),
        ] {
            assert!(
                !bytes.windows(path.len()).any(|w| w == path.as_bytes()),
                "{target}: the loader names {path}"
            );
        }
        assert!(
            bytes.windows(21).any(|w| w == b"cargo-xdp-loader/src/"),
            "{target}"
        );
        let manifest = fs::read_to_string(unpacked.path().join("droid/MANIFEST")).unwrap();
        assert!(
            manifest.contains("ndk: r26b (26.1.10909125)\napi: 21\n"),
            "{manifest}"
        );
        assert!(
            manifest.contains(&format!("triple: {triple}")),
            "{manifest}"
        );

        // cargo got the NDK's environment.
        let env = fs::read_to_string(&env_log).unwrap();
        let cc = triple.replace('-', "_");
        let upper = cc.to_uppercase();
        let ndk_bin = standin_ndk().join("toolchains/llvm/prebuilt/linux-x86_64/bin");
        for line in [
            format!(
                "CARGO_TARGET_{upper}_LINKER={}/{triple}21-clang",
                ndk_bin.display()
            ),
            format!("CC_{cc}={}/clang", ndk_bin.display()),
            format!("AR_{cc}={}/llvm-ar", ndk_bin.display()),
            format!("CFLAGS_{cc}=--target={triple}21"),
            format!(
                "CARGO_TARGET_{upper}_RUSTFLAGS=-Clink-arg=-Wl,-z,max-page-size=16384 \
                 -Clink-arg=-Wl,--script={}",
                shared_target_dir()
                    .join("xdp")
                    .join(target)
                    .join("no-unwind-tables.ld")
                    .display()
            ),
        ] {
            // RUSTFLAGS go on with identical code folding and the source
            // paths cut (tools.rs), which depend on $CARGO_HOME's registries.
            let folded = format!("{line} -Clink-arg=-Wl,--icf=all --remap-path-prefix=");
            assert!(
                env.lines().any(|l| l == line || l.starts_with(&folded)),
                "cargo's env lacks {line}:\n{env}"
            );
        }
    }
    // The NDK's per-API clang linked, the NDK's clang compiled the kern source.
    let log = fs::read_to_string(&ndk_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with("aarch64-linux-android21-clang ")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("x86_64-linux-android21-clang ")),
        "{log}"
    );
    let kern = log
        .lines()
        .find(|l| {
            l.starts_with("clang ")
                && l.contains("-target bpf")
                && l.contains("__TARGET_ARCH_arm64")
        })
        .unwrap_or_else(|| panic!("no NDK clang -target bpf for arm64:\n{log}"));
    assert!(kern.contains("-nostdlibinc"), "{kern}");
    assert!(
        kern.contains("sysroot/usr/include/aarch64-linux-android"),
        "{kern}"
    );

    // No host clang is needed for Android targets: with $CLANG pointing
    // nowhere, a changed kern source still builds.
    let source = root.join("droid_kern/droid_kern.c");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(&source, format!("{text}\n/* changed */\n")).unwrap();
    let out = ok(cargo_xdp_with_ndk()
        .current_dir(&root)
        .env("CLANG", "/nonexistent/clang")
        .args(["xdp", "build", "--release", "--target", "android-arm64"]));
    assert!(out.is_empty(), "human output goes to stderr");

    // A user's RUSTFLAGS win over target rustflags in cargo: ours are added
    // to them. (Only the environment is looked at: other flags would
    // rebuild every crate of the shared target dir.)
    fs::write(&env_log, "").unwrap();
    fails(
        cargo_xdp_with_ndk()
            .current_dir(&root)
            .env("RUSTFLAGS", "-Cdebug-assertions=off")
            .env("CARGO", env_logging_cargo(tmp.path(), &env_log, true))
            .args(["xdp", "build", "--release", "--target", "android-arm64"]),
    );
    let env = fs::read_to_string(&env_log).unwrap();
    assert!(
        env.lines().any(|l| l.starts_with(
            "RUSTFLAGS=-Cdebug-assertions=off -Clink-arg=-Wl,-z,max-page-size=16384 "
        )),
        "{env}"
    );
}

#[test]
fn a_too_low_api_level_ends_with_a_hint_naming_api() {
    let (_tmp, root) = new_project("ifaces", "minimal");
    // getifaddrs is in bionic from API 24 on.
    let main = root.join("ifaces_user/src/main.rs");
    let source = fs::read_to_string(&main).unwrap();
    let source = source.replacen(
        "fn main() {",
        "fn main() {\n    if std::env::var_os(\"IFACES\").is_some() {\n        let mut list = std::ptr::null_mut();\n        unsafe { libc::getifaddrs(&mut list) };\n    }",
        1,
    );
    fs::write(&main, source).unwrap();
    // Calling libc directly, as a user would: the crate is theirs to add.
    let manifest = root.join("ifaces_user/Cargo.toml");
    let with_libc = fs::read_to_string(&manifest).unwrap() + "libc = \"0.2\"\n";
    fs::write(&manifest, with_libc).unwrap();
    let build = |api: Option<&str>| {
        let mut command = cargo_xdp_with_ndk();
        command
            .current_dir(&root)
            .args(["xdp", "build", "--release", "--target", "android-arm64"]);
        if let Some(api) = api {
            command.args(["--api", api]);
        }
        command
    };
    // The shared target dir may hold one from an earlier run.
    let _ = fs::remove_file(bundle("ifaces", "android-arm64"));
    let error = fails(&mut build(None));
    assert!(error.contains("undefined symbol: getifaddrs"), "{error}");
    assert!(
        error.contains("API level 21") && error.contains("--api 24"),
        "{error}"
    );
    assert!(
        !bundle("ifaces", "android-arm64").exists(),
        "no bundle after a failed link"
    );
    let out = output(&mut build(Some("24")));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("bundle for android-arm64 (NDK r26b, API 24)"),
        "{}",
        text(&out)
    );
    // Levels the NDK does not have are refused before building.
    let error = fails(&mut build(Some("19")));
    assert!(
        error.contains("API level 19") && error.contains("21 to 34"),
        "{error}"
    );
}

#[test]
fn linux_arm64_is_static_and_runs_under_qemu() {
    let (_tmp, root) = new_project("board", "filter");
    // Default targets come from the metadata.
    let manifest = root.join("Cargo.toml");
    let toml = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        toml.replace(
            r#"targets = ["linux-x86_64"]"#,
            r#"targets = ["linux-arm64", "linux-armv7", "linux-x86_64"]"#,
        ),
    )
    .unwrap();
    let out = output(
        cargo_xdp()
            .current_dir(&root)
            .args(["xdp", "build", "--release"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    // One Finished line per target; Compiling says for which.
    let said = text(&out);
    assert!(
        said.contains("Finished `release` bundle for linux-arm64 in ")
            && said.contains("Finished `release` bundle for linux-x86_64 in "),
        "{said}"
    );
    assert_eq!(said.matches("Finished").count(), 3, "{said}");
    assert!(
        said.contains("board_kern/board_kern.c for linux-arm64 (clang -target bpf)"),
        "{said}"
    );
    let unpacked = tempfile::tempdir().unwrap();
    let loader = from_bundle(
        &bundle("board", "linux-arm64"),
        unpacked.path(),
        "board/board_user",
    );
    let info = read_elf(&loader);
    assert_eq!(info.machine, Architecture::Aarch64);
    assert!(info.interpreter.is_none() && !info.has_symtab && !info.has_unwind_tables);
    let qemu = output(
        Command::new("qemu-aarch64-static")
            .arg(&loader)
            .arg("--help"),
    );
    assert!(qemu.status.success(), "{}", text(&qemu));
    assert!(
        text(&qemu).contains("Usage:") && text(&qemu).contains("attach IFACE"),
        "{}",
        text(&qemu)
    );
    assert!(bundle("board", "linux-x86_64").is_file());

    // 32-bit ARM boards: a static EABI executable (glibc linked statically by
    // Debian's armhf cross toolchain), run here by qemu-arm.
    let loader = from_bundle(
        &bundle("board", "linux-armv7"),
        unpacked.path(),
        "board/board_user",
    );
    let info = read_elf(&loader);
    assert_eq!((info.machine, info.bits), (Architecture::Arm, 32));
    assert!(info.interpreter.is_none() && !info.has_dynamic && !info.has_symtab);
    let qemu = output(Command::new("qemu-arm-static").arg(&loader).arg("--help"));
    assert!(
        qemu.status.success() && text(&qemu).contains("attach IFACE"),
        "{}",
        text(&qemu)
    );
    armv7_on_a_32_bit_kernel(&bundle("board", "linux-armv7"));
}

/// qemu-user has no bpf(): the armv7 loader attaches, drops and detaches on
/// a real 32-bit ARM kernel (Debian's armmp) under qemu-system-arm
/// (tests/fixtures/arm32).
fn armv7_on_a_32_bit_kernel(bundle: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arm32");
    let vm = shared_target_dir().join("arm32-vm");
    let made = output(Command::new(fixture.join("make-vm.sh")).arg(&vm));
    if !made.status.success() && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED the 32-bit kernel: {}", text(&made));
        return;
    }
    assert!(made.status.success(), "{}", text(&made));
    let console = text(&output(
        Command::new(fixture.join("run-vm.sh"))
            .arg(&vm)
            .arg(bundle)
            .arg("board"),
    ));
    let said: Vec<&str> = console.lines().filter(|l| l.starts_with("vm: ")).collect();
    assert!(
        said.first().is_some_and(|l| l.contains("armv7l")),
        "{console}"
    );
    for line in [
        "vm: ping before: answered",
        "vm: attached",
        "vm: ping attached: dropped",
        "vm: detached",
        "vm: ping after: answered",
    ] {
        assert!(said.contains(&line), "no `{line}` in:\n{console}");
    }
    let stats = said
        .iter()
        .find_map(|l| l.strip_prefix("vm: stats "))
        .unwrap();
    let counters: serde_json::Value = serde_json::from_str(stats).unwrap();
    assert_eq!(counters["drop"]["packets"], 3, "{stats}");
}

#[test]
fn android_armv7_compiles_kern_with_the_ndk_and_ships_the_static_arm_loader() {
    let (tmp, root) = new_project("tv", "filter");
    let ndk_log = tmp.path().join("ndk.log");
    let out = output(
        cargo_xdp_with_ndk()
            .current_dir(&root)
            .env("NDK_STANDIN_LOG", &ndk_log)
            // cargo-ndk's name for it.
            .args([
                "xdp",
                "build",
                "--release",
                "--target",
                "armv7-linux-androideabi",
            ]),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Finished `release` bundle for android-armv7"),
        "{}",
        text(&out)
    );
    let log = fs::read_to_string(&ndk_log).unwrap();
    let kern = log
        .lines()
        .find(|l| l.starts_with("clang ") && l.contains("__TARGET_ARCH_arm "))
        .unwrap_or_else(|| panic!("no NDK clang -target bpf for arm:\n{log}"));
    assert!(
        kern.contains("sysroot/usr/include/arm-linux-androideabi") && kern.contains("-mcpu=v2"),
        "{kern}"
    );
    let unpacked = tempfile::tempdir().unwrap();
    let loader = from_bundle(
        &bundle("tv", "android-armv7"),
        unpacked.path(),
        "tv/tv_user",
    );
    let info = read_elf(&loader);
    assert_eq!((info.machine, info.bits), (Architecture::Arm, 32));
    assert!(
        info.interpreter.is_none() && !info.has_dynamic,
        "no bionic: the phone's kernel runs it as it is"
    );
    let manifest = fs::read_to_string(unpacked.path().join("tv/MANIFEST")).unwrap();
    assert!(
        manifest.contains("triple: armv7-unknown-linux-gnueabihf"),
        "{manifest}"
    );
}

#[test]
fn ndk_discovery_errors_name_the_path_and_where_it_came_from() {
    let (tmp, root) = new_project("noandroid", "minimal");
    let build = || {
        let mut command = cargo_xdp();
        // No ~/Android/Sdk either: a home of our own (cargo and rustup keep theirs).
        let home = std::env::var("HOME").unwrap();
        command
            .current_dir(&root)
            .env("HOME", tmp.path())
            .env(
                "CARGO_HOME",
                std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo")),
            )
            .env(
                "RUSTUP_HOME",
                std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup")),
            )
            .args(["xdp", "build", "--target", "android-arm64"]);
        command
    };
    let error = fails(&mut build());
    assert!(
        error.contains("no Android NDK found") && error.contains("ANDROID_NDK_HOME"),
        "{error}"
    );

    let old = tmp.path().join("android-ndk-r22b");
    fs::create_dir_all(&old).unwrap();
    fs::write(
        old.join("source.properties"),
        "Pkg.Desc = Android NDK\nPkg.Revision = 22.1.7171670\n",
    )
    .unwrap();
    let error = fails(build().env("ANDROID_NDK_ROOT", &old));
    assert!(
        error.contains("r22b") && error.contains("$ANDROID_NDK_ROOT") && error.contains("r23"),
        "{error}"
    );
    assert!(error.contains(&old.display().to_string()), "{error}");

    let error = fails(build().arg("--ndk").arg(tmp.path()));
    assert!(
        error.contains("is not an Android NDK") && error.contains("--ndk"),
        "{error}"
    );

    // Two variables naming different NDKs: a warning, and the first one wins.
    let out = output(
        build()
            .env("ANDROID_NDK_HOME", standin_ndk())
            .env("NDK_HOME", &old)
            .args(["--api", "19"]),
    );
    let all = text(&out);
    assert!(
        all.contains("warning: ANDROID_NDK_HOME=") && all.contains("NDK_HOME="),
        "{all}"
    );
    assert!(all.contains("(from $ANDROID_NDK_HOME)"), "{all}");
    assert!(
        !root.join("target").exists() && !bundle_in("debug", "noandroid", "android-arm64").exists()
    );
}

#[test]
fn a_missing_rust_target_names_the_rustup_command() {
    let (tmp, root) = new_project("norust", "minimal");
    // A rustc whose sysroot has no targets at all.
    let rustc = tmp.path().join("rustc");
    fs::write(&rustc, format!("#!/bin/sh\n[ \"$1 $2\" = '--print sysroot' ] && echo '{}' && exit 0\nexec rustc \"$@\"\n", tmp.path().display())).unwrap();
    ok(Command::new("chmod").arg("+x").arg(&rustc));
    let error = fails(
        cargo_xdp_with_ndk()
            .current_dir(&root)
            .env("RUSTC", &rustc)
            .args(["xdp", "build", "--target", "linux-x86_64,android-arm64"]),
    );
    assert!(
        error.contains("rustup target add aarch64-linux-android"),
        "{error}"
    );
    assert!(error.contains("--install-targets"), "{error}");
    // Checked before anything is built, even for a later target.
    assert!(
        !bundle_in("debug", "norust", "linux-x86_64").exists(),
        "{error}"
    );
}

#[test]
fn build_refuses_unknown_targets_and_conflicting_flags() {
    let (_tmp, root) = new_project("flags", "minimal");
    let error =
        fails(
            cargo_xdp()
                .current_dir(&root)
                .args(["xdp", "build", "--target", "android-mips"]),
        );
    assert!(
        error.contains("unknown target `android-mips`") && error.contains("android-arm64"),
        "{error}"
    );
    let error = fails(cargo_xdp().current_dir(&root).args([
        "xdp",
        "build",
        "--target",
        "linux-arm64",
        "--all-targets",
    ]));
    assert!(error.contains("cannot be used with"), "{error}");
}

#[test]
fn doctor_reports_each_need_with_its_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let doctor = |ndk: bool| {
        let mut command = if ndk {
            cargo_xdp_with_ndk()
        } else {
            cargo_xdp()
        };
        command
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .env("ADB", "/nonexistent/adb")
            .env(
                "CARGO_HOME",
                std::env::var("CARGO_HOME")
                    .unwrap_or(format!("{}/.cargo", std::env::var("HOME").unwrap())),
            )
            .env(
                "RUSTUP_HOME",
                std::env::var("RUSTUP_HOME")
                    .unwrap_or(format!("{}/.rustup", std::env::var("HOME").unwrap())),
            )
            .args(["xdp", "doctor"]);
        command
    };
    // With the stand-in NDK, android-arm64 can be built; adb is only needed to deploy.
    let out = ok(doctor(true).args(["--target", "android-arm64"]));
    assert!(
        out.contains("Android NDK r23+") && out.contains("r26b"),
        "{out}"
    );
    assert!(
        out.contains("adb (deploy)") && out.contains("missing"),
        "{out}"
    );
    let error = fails(doctor(true).args(["--target", "android-arm64", "--deploy"]));
    assert!(
        error.contains("missing: adb (deploy) for android-arm64"),
        "{error}"
    );

    // Without an NDK: MISSING, the fix, non-zero exit; JSON for scripts.
    let error = fails(doctor(false).args(["--target", "android-arm64"]));
    assert!(
        error.contains("MISSING") && error.contains("fix: install an NDK"),
        "{error}"
    );
    let out = output(doctor(false).args(["--target", "android-arm64,linux-x86_64", "--json"]));
    assert!(!out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ndk = rows
        .iter()
        .find(|r| r["need"] == "Android NDK r23+")
        .unwrap();
    assert_eq!(
        (ndk["ok"].as_bool(), ndk["required"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(rows
        .iter()
        .any(|r| r["need"] == "clang with BPF backend" && r["ok"] == true));
    let finished = rows
        .iter()
        .find(|r| r["reason"] == "doctor-finished")
        .unwrap();
    assert_eq!(finished["ok"], false);

    let error = fails(doctor(false).args(["--target", "android-mips"]));
    assert!(error.contains("unknown target `android-mips`"), "{error}");

    // Only the chosen targets decide the exit code.
    ok(doctor(false).args(["--target", "linux-x86_64"]));

    // A device that adb lists, with the right ABI: deploy needs are met.
    let adb = tmp.path().join("adb");
    fs::write(
        &adb,
        "#!/bin/sh\ncase \"$*\" in\n\
         'devices -l') printf 'List of devices attached\\nPHONE1 device model:Pixel_8\\nEMU offline\\n' ;;\n\
         '-s PHONE1 shell getprop ro.product.cpu.abi; uname -r; echo __rc=$?') printf 'arm64-v8a\\n4.9.112-perf\\n__rc=0\\n' ;;\n\
         *'-s PHONE1 shell '*'echo uid='*) printf 'uid=0\\nabi=arm64-v8a\\nsdk=34\\nkernel=4.9.112-perf\\nsu=none\\nhash=toybox sha256sum\\nselinux=Enforcing\\n__rc=0\\n' ;;\n\
         *) exit 1 ;;\nesac\n",
    )
    .unwrap();
    ok(Command::new("chmod").arg("+x").arg(&adb));
    let out = ok(doctor(true).env("ADB", &adb).args([
        "--target",
        "android-arm64",
        "--deploy",
        "-s",
        "PHONE1",
    ]));
    assert!(
        out.contains("a way to root (deploy)") && out.contains("the shell is root"),
        "{out}"
    );
    assert!(
        out.contains("device, arm64-v8a (deploy)") && out.contains("PHONE1"),
        "{out}"
    );
    // Its Linux 4.9 is older than BPF v2 needs: a warning row, not a failure.
    assert!(
        out.lines().any(|l| l.contains("kernel for BPF v2 (deploy)")
            && l.contains("PHONE1: the device runs Linux 4.9.112-perf")),
        "{out}"
    );
    let error =
        fails(
            doctor(true)
                .env("ADB", &adb)
                .args(["--target", "android-x86_64", "--deploy"]),
        );
    assert!(
        error.contains("none of 2 device(s) is x86_64 (EMU is offline)"),
        "{error}"
    );
}

/// Every template builds for every target (debug: what differs between
/// templates is their kern C and rules.rs, not the release profile).
#[test]
fn every_template_builds_for_every_target() {
    let listed = ok(cargo_xdp().args(["xdp", "new", "--list"]));
    let templates: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(templates.len() >= 6, "{listed}");
    for template in templates {
        let name = format!("every{}", template.replace('-', ""));
        let (_tmp, root) = new_project(&name, template);
        let out =
            output(
                cargo_xdp_with_ndk()
                    .current_dir(&root)
                    .args(["xdp", "build", "--all-targets"]),
            );
        assert!(out.status.success(), "{template}: {}", text(&out));
        for target in [
            "android-arm64",
            "android-x86_64",
            "linux-arm64",
            "linux-x86_64",
        ] {
            assert!(
                bundle_in("debug", &name, target).is_file(),
                "{template} for {target}"
            );
        }
    }
}

/// Without a real NDK's headers (a fresh clone), the stand-in's sysroot is
/// made from this machine's headers with bionic's kernel-header rewrites
/// put back (tests/fixtures/ndk/bionic-like-headers.sh): each of them is
/// there, and, where the real tree is at hand (always in CI), it has the
/// same ones, so the fixture stays faithful on the points it claims.
#[test]
fn the_bionic_like_fixture_has_the_rewrites_of_the_real_tree() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ndk");
    let made = tempfile::tempdir().unwrap();
    ok(Command::new(fixture.join("bionic-like-headers.sh")).arg(made.path()));
    // (file, what bionic has there)
    let rewrites = [
        ("linux/udp.h", "struct __kernel_udphdr {"),
        ("linux/tcp.h", "#include <bits/tcphdr.h>"),
        ("bits/tcphdr.h", "uint16_t res2:2;"),
        ("linux/icmp.h", "__linux_unused;"),
        ("linux/stddef.h", "#include <linux/compiler_types.h>"),
    ];
    let has = |root: &Path, file: &str, text: &str| {
        std::fs::read_to_string(root.join(file)).is_ok_and(|t| t.contains(text))
    };
    for (file, text) in rewrites {
        assert!(has(made.path(), file, text), "made: {file} lacks {text}");
    }
    assert!(
        !has(made.path(), "linux/tcp.h", "ece:1"),
        "no kernel tcphdr left"
    );
    let real = std::env::var_os("BIONIC_HEADERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixture.join("../../../../shared/ndk/bionic-headers.tgz"));
    if !real.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the real tree at {}",
            real.display()
        );
        eprintln!("the real bionic tree is not here: only the fixture was checked");
        return;
    }
    let unpacked = tempfile::tempdir().unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&real)
        .arg("-C")
        .arg(unpacked.path()));
    for (file, text) in rewrites {
        assert!(
            has(unpacked.path(), file, text),
            "real: {file} lacks {text}"
        );
    }
}
