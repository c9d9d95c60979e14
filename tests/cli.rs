//! cargo-xdp's commands and their errors, without attaching anything.

mod common;

use std::{fs, path::Path};

use common::*;

#[test]
fn works_as_cargo_subcommand_and_directly() {
    for args in [
        &["xdp", "--help"][..],
        &["--help"],
        &["xdp", "new", "--list"],
        &["new", "--list"],
    ] {
        let out = ok(cargo_xdp().args(args));
        assert!(!out.is_empty(), "{args:?}");
    }
    let listed = ok(cargo_xdp().args(["new", "--list"]));
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "filter",
            "minimal",
            "ratelimit",
            "redirect",
            "reflect",
            "stats"
        ],
        "one line per template:\n{listed}"
    );
}

#[test]
fn new_writes_the_kern_user_pair() {
    let (_dir, root) = new_project("my-filter", "filter");
    for file in [
        "Cargo.toml",
        ".gitignore",
        "README.md",
        "my-filter-kern/my-filter-kern.c",
        "my-filter-kern/include/xdp_stats.h",
        "my-filter-user/Cargo.toml",
        "my-filter-user/src/main.rs",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"my-filter\""));
    // One style per name: hyphens throughout (`myfilter` gets myfilter_user).
    assert!(
        manifest.contains("loader = \"my-filter-user\""),
        "{manifest}"
    );
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("## Bringing an existing XDP program")
            && readme.contains("cflags = [\"-Imy-filter-kern/common\"]")
            && readme.contains("cargo xdp vmlinux"),
        "{readme}"
    );
}

#[test]
fn new_refuses_bad_input_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (&["new", "1abc"], "must start with a letter"),
        (&["new", "my filter"], "contains ` `"),
        (&["new", "a/b"], "contains `/`"),
        (&["new", "struct"], "keyword"),
        (&["new", "good", "--template", "nope"], "no template `nope`"),
        (
            &["new", "good", "--path", "missing/dir/good"],
            "does not exist",
        ),
        (
            &["new", "good", "--path", "/proc/cargo-xdp-test"],
            "cannot write",
        ),
    ];
    for (args, reason) in cases {
        let error = fails(cargo_xdp().current_dir(here).args(*args));
        assert!(error.contains(reason), "{args:?}: {error}");
        assert!(
            error.lines().filter(|l| l.starts_with("error")).count() == 1,
            "{error}"
        );
    }
    assert_eq!(
        fs::read_dir(here).unwrap().count(),
        0,
        "something was left behind"
    );
    assert!(!Path::new("/proc/cargo-xdp-test").exists());

    fs::create_dir(here.join("taken")).unwrap();
    fs::write(here.join("taken/keep"), "mine").unwrap();
    let error = fails(cargo_xdp().current_dir(here).args(["new", "taken"]));
    assert!(error.contains("already exists"), "{error}");
    assert_eq!(fs::read_to_string(here.join("taken/keep")).unwrap(), "mine");
    assert_eq!(fs::read_dir(here).unwrap().count(), 1);
}

#[test]
fn build_outside_a_project_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let error = fails(cargo_xdp().current_dir(dir.path()).arg("build"));
    assert!(error.contains("cargo xdp new"), "{error}");
}

#[test]
fn build_rejects_unknown_targets_and_bad_clang() {
    let (_dir, root) = new_project("badtool", "minimal");
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["build", "--target", "android-mips"]),
    );
    assert!(
        error.contains("unknown target `android-mips`") && error.contains("linux-x86_64"),
        "{error}"
    );
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .arg("build")
            .env("CLANG", "/nonexistent/clang"),
    );
    assert!(
        error.contains("$CLANG") && error.contains("/nonexistent/clang"),
        "{error}"
    );
    // A compiler without the BPF backend.
    let fake = root.join("fake-clang");
    fs::write(
        &fake,
        "#!/bin/sh\necho '  Registered Targets:'\necho '    x86-64 - 64-bit X86'\n",
    )
    .unwrap();
    make_executable(&fake);
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .arg("build")
            .env("CLANG", &fake),
    );
    assert!(error.contains("no BPF backend"), "{error}");
    assert!(!bundle_path("badtool").exists());
}

#[test]
fn clang_errors_name_the_file_and_leave_no_bundle() {
    let (_dir, root) = new_project("brokenkern", "minimal");
    let source = root.join("brokenkern_kern/brokenkern_kern.c");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(
        &source,
        text.replace(
            "return count_action(ctx, XDP_DROP);",
            "return undefined_thing;",
        ),
    )
    .unwrap();
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(
        error.contains("brokenkern_kern/brokenkern_kern.c:"),
        "clang's diagnostic with the path:\n{error}"
    );
    assert!(error.contains("undefined_thing"), "{error}");
    assert!(error.contains("could not compile kern source"), "{error}");
    assert!(!bundle_path("brokenkern").exists());
}

#[test]
fn kern_object_without_license_is_refused() {
    let (_dir, root) = new_project("nolicense", "minimal");
    let source = root.join("nolicense_kern/nolicense_kern.c");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(
        &source,
        text.replace("char _license[] SEC(\"license\") = \"GPL\";", ""),
    )
    .unwrap();
    // Its own target dir (the kern step fails before cargo builds
    // anything): nothing half-made may stay there.
    let target = tempfile::tempdir().unwrap();
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", target.path())
            .arg("build"),
    );
    assert!(error.contains("no `license` section"), "{error}");
    let kern = target.path().join("xdp/linux-x86_64/kern");
    let left: Vec<_> = fs::read_dir(&kern)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp") || n.ends_with(".o") || n.ends_with(".cmd"))
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        kern.display()
    );
    assert!(!target
        .path()
        .join("xdp/linux-x86_64/debug/nolicense-linux-x86_64.tar.gz")
        .exists());
    // Before the loader's first build kern goes first: its error stopped
    // the build before cargo started (later builds run both side by side).
    assert!(
        !target.path().join("x86_64-unknown-linux-gnu").exists(),
        "cargo built the loader of a project whose kern object was refused"
    );
}

/// libbpf's headers: another pinned version is checked before cargo runs,
/// and a project's own directory must hold bpf/bpf_helpers.h; a project's
/// own kernel uapi tree must hold linux/ and asm/.
#[test]
fn libbpf_and_kernel_headers_can_be_pinned_or_the_projects_own() {
    let (dir, root) = new_project("ownlibbpf", "minimal");
    // The pinned headers, fetched once into the shared target dir.
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let manifest = root.join("Cargo.toml");
    let original = fs::read_to_string(&manifest).unwrap();
    let with = |line: &str| {
        fs::write(
            &manifest,
            original.replace("api = 21\n", &format!("api = 21\n{line}\n")),
        )
        .unwrap();
    };
    with("libbpf = \"1.7\"");
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(error.contains("is not a libbpf-sys version"), "{error}");
    with("libbpf-include = \"nowhere\"");
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(error.contains("has no bpf/bpf_helpers.h"), "{error}");
    // A copy of the pinned headers as the project's own: used, and named.
    let own = root.join("libbpf-own");
    fs::create_dir_all(own.join("bpf")).unwrap();
    for entry in fs::read_dir(shared_target_dir().join("xdp/libbpf/1.7.0/bpf")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), own.join("bpf").join(entry.file_name())).unwrap();
    }
    with("libbpf-include = \"libbpf-own\"");
    let out = output(cargo_xdp().current_dir(&root).args(["build", "-v"]));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "Using libbpf 1.7 (from {}) headers",
            own.display()
        )) && said.contains(&format!("-isystem {}", own.display())),
        "{said}"
    );
    // The kernel's uapi headers: the project's own tree must hold linux/
    // and asm/; a copy of the pinned tree is used, and named.
    with("kernel-headers = \"nowhere\"");
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(
        error.contains("has no linux/types.h") && error.contains("\"libc\""),
        "{error}"
    );
    let own = root.join("uapi-own");
    let pinned = shared_target_dir().join("xdp/kernel-headers/6.12.38-1cross1/amd64/include");
    ok(std::process::Command::new("cp")
        .arg("-r")
        .arg(&pinned)
        .arg(&own));
    with("kernel-headers = \"uapi-own\"");
    let out = output(cargo_xdp().current_dir(&root).args(["build", "-v"]));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "Using kernel uapi headers from {} for linux-x86_64 kern sources",
            own.display()
        )) && said.contains(&format!("-isystem {}", own.display())),
        "{said}"
    );
    drop(dir);
}

/// `cargo xdp upgrade`: a project made against an older runtime requirement
/// gets this cargo-xdp's, keeps the rest of its manifest, and builds
/// unchanged.
#[test]
fn upgrade_moves_the_loader_to_this_runtime() {
    let (_dir, root) = new_project("upgraded", "filter");
    let manifest = root.join("upgraded_user/Cargo.toml");
    let fresh = fs::read_to_string(&manifest).unwrap();
    let old = fresh.replace("version = \"0.1.0\", path", "version = \"0.0.1\", path");
    assert_ne!(old, fresh, "{fresh}");
    fs::write(&manifest, &old).unwrap();
    let out = output(cargo_xdp().current_dir(&root).args(["xdp", "upgrade"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Upgraded upgraded_user from cargo-xdp-loader 0.0.1 to 0.1.0"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&manifest).unwrap(), fresh);
    let again = output(cargo_xdp().current_dir(&root).args(["xdp", "upgrade"]));
    assert!(
        text(&again).contains("already uses cargo-xdp-loader 0.1.0"),
        "{}",
        text(&again)
    );
    ok(cargo_xdp().current_dir(&root).arg("build"));
}

/// Two builds of one project at once: the second waits for the first (as
/// cargo does), both succeed, and the bundle is what a clean build makes.
#[test]
fn builds_at_once_take_turns_and_give_the_clean_bundle() {
    let (_dir, root) = new_project("twice", "filter");
    let spawn = || {
        cargo_xdp()
            .current_dir(&root)
            .arg("build")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let outputs = [first, second].map(|child| child.wait_with_output().unwrap());
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
    }
    let said: String = outputs.iter().map(text).collect();
    assert!(
        said.contains("Blocking waiting for file lock on"),
        "one build waited: {said}"
    );
    let together = fs::read(bundle_path("twice")).unwrap();
    // A clean build: no kern objects, no bundle.
    let xdp = shared_target_dir().join("xdp/linux-x86_64");
    for stale in [
        "kern/twice_kern.o",
        "kern/twice_kern.cmd",
        "debug/twice-linux-x86_64.tar.gz",
    ] {
        fs::remove_file(xdp.join(stale)).unwrap();
    }
    ok(cargo_xdp().current_dir(&root).arg("build"));
    assert_eq!(together, fs::read(bundle_path("twice")).unwrap());
}

/// A loader whose inputs are as cargo last built it costs no cargo run; any
/// change cargo would see (a source, the environment, a config file, the
/// binary gone) runs cargo again, and what cargo would say again (warnings)
/// or only it can judge (a build script of the loader's own) keeps it running.
#[test]
fn an_unchanged_loader_skips_cargo_and_any_change_runs_it() {
    let (_dir, root) = new_project("skipper", "minimal");
    let main_rs = root.join("skipper_user/src/main.rs");
    let build_with = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = cargo_xdp();
        command
            .current_dir(&root)
            .args(["xdp", "build", "-v"])
            .args(args);
        command.envs(env.iter().copied());
        let out = output(&mut command);
        assert!(out.status.success(), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let skipped = stderr.contains("Fresh skipper_user (no cargo build");
        let ran = stderr.contains(" build --manifest-path ");
        assert_ne!(skipped, ran, "{stderr}");
        (ran, stderr)
    };
    let build = |env: &[(&str, &str)]| build_with(&[], env);
    // Inputs written within 2 s of a build are cargo's to judge next time
    // (and cargo itself misses an edit dated before its last build).
    let settle = || std::thread::sleep(std::time::Duration::from_millis(2100));
    let age = |path: &Path| {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(30);
        fs::File::options()
            .append(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    };

    assert!(build(&[]).0, "the first build runs cargo");
    settle();
    let (ran, stderr) = build(&[]);
    assert!(ran && !stderr.contains("Unstamped"), "{stderr}");
    let (ran, stderr) = build(&[]);
    assert!(!ran, "{stderr}");
    assert!(stderr.contains("Finished `debug` bundle"), "{stderr}");

    // The environment: any variable.
    assert!(build(&[("SKIPPER_SOMETHING", "1")]).0);
    assert!(!build(&[("SKIPPER_SOMETHING", "1")]).0);
    assert!(build(&[]).0);
    assert!(!build(&[]).0);

    // A source edited.
    let source = fs::read_to_string(&main_rs).unwrap();
    fs::write(&main_rs, source.replace("run(", "run (")).unwrap();
    settle();
    let (ran, stderr) = build(&[]);
    assert!(ran && stderr.contains("Compiling skipper_user"), "{stderr}");
    assert!(!build(&[]).0);

    // A config file where there was none.
    fs::create_dir(root.join(".cargo")).unwrap();
    fs::write(root.join(".cargo/config.toml"), "[term]\nverbose = false\n").unwrap();
    age(&root.join(".cargo/config.toml"));
    assert!(build(&[]).0);
    assert!(!build(&[]).0);

    // The binary gone.
    let binary = shared_target_dir().join("x86_64-unknown-linux-gnu/debug/skipper_user");
    fs::remove_file(&binary).unwrap();
    assert!(build(&[]).0);
    assert!(binary.is_file());
    assert!(!build(&[]).0);

    // --config: its values could name anything, so cargo judges.
    for _ in 0..2 {
        let (ran, stderr) = build_with(&["--config", "net.retry=3"], &[]);
        assert!(
            ran && stderr.contains("read by `cargo metadata`"),
            "{stderr}"
        );
    }

    // Warnings: cargo prints them on every build, so it runs every time.
    fs::write(&main_rs, format!("{source}\nfn never_called() {{}}\n")).unwrap();
    settle();
    let (ran, stderr) = build(&[]);
    assert!(ran && stderr.contains("never_called"), "{stderr}");
    assert!(stderr.contains("Unstamped skipper_user"), "{stderr}");
    let (ran, stderr) = build(&[]);
    assert!(ran && stderr.contains("never_called"), "{stderr}");

    // A build script of the loader's own: only cargo knows what it reads.
    fs::write(&main_rs, &source).unwrap();
    fs::write(root.join("skipper_user/build.rs"), "fn main() {}\n").unwrap();
    settle();
    let (ran, stderr) = build(&[]);
    assert!(ran && stderr.contains("has a build script"), "{stderr}");
    settle();
    assert!(build(&[]).0);
}

/// Builds twice: the second run must not run clang, and both bundles must be
/// byte-identical. Also checks the bundle's contents and MANIFEST.
#[test]
fn unchanged_rebuild_skips_clang_and_reproduces_the_bundle() {
    let (dir, root) = new_project("repro", "filter");
    let log = dir.path().join("clang.log");
    let wrapper = dir.path().join("clang-wrapper");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec clang \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    make_executable(&wrapper);
    let build = || {
        ok(cargo_xdp()
            .current_dir(&root)
            .args(["build", "--message-format", "json"])
            .env("CLANG", &wrapper))
    };

    let first = build();
    let bundle = bundle_path("repro");
    let first_bytes = fs::read(&bundle).unwrap();
    let calls = fs::read_to_string(&log).unwrap();
    assert!(calls.contains("-target bpf"), "{calls}");
    assert!(
        first.lines().any(|l| l.contains("\"reason\":\"bundle\"")),
        "{first}"
    );

    fs::remove_file(&log).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // A forced rewrite (bundle removed) must give the same bytes.
    fs::remove_file(&bundle).unwrap();
    let second = build();
    assert!(
        !log.exists(),
        "clang ran again: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(second.contains("\"fresh\":true"), "{second}");
    assert_eq!(first_bytes, fs::read(&bundle).unwrap(), "bundles differ");

    let listing = ok(std::process::Command::new("tar").arg("tzvf").arg(&bundle));
    for entry in [
        "repro/MANIFEST",
        "repro/repro_kern.o",
        "repro/repro_user",
        "repro/push-and-attach.sh",
        "repro/on-device.sh",
        "repro/root-entry.sh",
        "repro/boot.sh",
        "repro/repro.attach",
    ] {
        assert!(listing.contains(entry), "{entry} not in bundle:\n{listing}");
    }
    let extracted = tempfile::tempdir().unwrap();
    ok(std::process::Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(extracted.path()));
    let manifest = fs::read_to_string(extracted.path().join("repro/MANIFEST")).unwrap();
    assert!(manifest.contains("target: linux-x86_64"), "{manifest}");
    assert!(manifest.contains("\nrustc: rustc 1."), "{manifest}");
    let lock = fs::read(root.join("Cargo.lock")).unwrap();
    let lock_sum = ok(std::process::Command::new("sha256sum").arg(root.join("Cargo.lock")));
    assert!(!lock.is_empty());
    assert!(
        manifest.contains(&format!(
            "\ncargo-lock-sha256: {}\n",
            lock_sum.split_whitespace().next().unwrap()
        )),
        "{manifest}"
    );
    // sha256sum agrees with every hash in the MANIFEST.
    let sums: String = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("sha256: "))
        .map(|l| format!("{l}\n"))
        .collect();
    // Every file but MANIFEST itself: object, loader, four scripts, the
    // attach table, the packet tests, bench's baseline object, and the
    // template's 5.2+ kernel variant with the list naming it.
    assert_eq!(sums.lines().count(), 11, "{manifest}");
    for file in [
        "repro_kern.cases",
        "xdp-baseline.o",
        "repro_kern.k5.2.o",
        "repro_kern.variants",
    ] {
        assert!(manifest.contains(&format!("  {file}\n")), "{manifest}");
    }
    fs::write(extracted.path().join("repro/SUMS"), sums).unwrap();
    ok(std::process::Command::new("sha256sum")
        .args(["-c", "SUMS"])
        .current_dir(extracted.path().join("repro")));

    // Touching a header the kern source includes rebuilds it.
    let header = root.join("repro_kern/include/xdp_stats.h");
    let text = fs::read_to_string(&header).unwrap();
    // A newline changes no instruction: clang runs, the object keeps its
    // bytes and its date, and the bundle stays as it was.
    let object = shared_target_dir().join("xdp/linux-x86_64/kern/repro_kern.o");
    let dated = |path: &Path| fs::metadata(path).unwrap().modified().unwrap();
    let (object_date, bundle_date) = (dated(&object), dated(&bundle));
    fs::write(&header, text.clone() + "\n").unwrap();
    let third = build();
    assert!(
        log.exists(),
        "changed header did not rebuild the kern object"
    );
    assert_eq!(dated(&object), object_date, "same bytes, new date");
    assert_eq!(dated(&bundle), bundle_date, "bundle rewritten");
    assert!(
        third
            .lines()
            .any(|l| l.contains("\"reason\":\"bundle\"") && l.contains("\"fresh\":true")),
        "{third}"
    );
    // ... and the next build runs no clang: the stamp is dated when clang
    // started, not when the (older) object was made.
    fs::remove_file(&log).unwrap();
    build();
    assert!(!log.exists(), "clang ran for an unchanged source");
    // A real change makes a new object and a new bundle, whose object is
    // stripped (no DWARF; .BTF kept for loading).
    fs::write(
        &header,
        text.replace("counter->packets += 1;", "counter->packets += 2;"),
    )
    .unwrap();
    build();
    assert_ne!(dated(&bundle), bundle_date, "bundle not rewritten");
    let object_bytes = fs::read(&object).unwrap();
    let has = |needle: &[u8]| object_bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b".BTF.ext") && !has(b".debug_info"));
    fs::write(&header, text).unwrap();
}

#[test]
fn run_without_root_uses_sudo_and_says_when_there_is_none_or_it_refuses() {
    if !root_or_skip("run_without_root_uses_sudo_and_says_when_there_is_none_or_it_refuses") {
        return; // (root, to become nobody)
    }
    // As nobody, with only a directory we control on PATH.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let as_nobody = |path: &Path, args: &[&str]| {
        let mut run = std::process::Command::new("/usr/bin/setpriv");
        run.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_cargo-xdp"))
            .args(args)
            .env("PATH", path)
            .env_remove("CARGO_XDP_SUDO")
            .current_dir(dir.path());
        fails(&mut run)
    };
    let error = as_nobody(dir.path(), &["run", "eth0"]);
    assert!(
        error.contains("needs root to attach on this machine, and there is no `sudo`")
            && error.contains("the build itself needs no root"),
        "{error}"
    );
    let sudo = dir.path().join("sudo");
    fs::write(
        &sudo,
        "#!/bin/sh
echo 'Sorry, user nobody may not run sudo here.' >&2
exit 1
",
    )
    .unwrap();
    make_executable(&sudo);
    let error = as_nobody(dir.path(), &["run", "eth0"]);
    assert!(
        error.contains("may not run sudo") && error.contains("true` refused"),
        "{error}"
    );
    // Local status asks the same way.
    let error = as_nobody(dir.path(), &["status"]);
    assert!(error.contains("`cargo xdp status` needs root"), "{error}");
}

#[test]
fn targets_answer_to_triples_and_abis_and_near_misses_get_a_suggestion() {
    let (_dir, root) = new_project("aliases", "minimal");
    let build = |target: &str| {
        fails(
            cargo_xdp()
                .current_dir(&root)
                .env("ANDROID_NDK_HOME", "/nonexistent/ndk")
                .args(["build", "--target", target]),
        )
    };
    // Both reach the NDK lookup: they were understood as android-arm64.
    for spelling in ["aarch64-linux-android", "arm64-v8a"] {
        let error = build(spelling);
        assert!(
            error.contains("/nonexistent/ndk") && !error.contains("unknown target"),
            "{spelling}: {error}"
        );
    }
    let error = build("android-arm46");
    assert!(
        error.contains("unknown target `android-arm46`; did you mean `android-arm64`?"),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let error =
        fails(
            cargo_xdp()
                .current_dir(dir.path())
                .args(["new", "x", "--template", "filtr"]),
        );
    assert!(error.contains("did you mean `filter`?"), "{error}");
    assert!(!dir.path().join("x").exists());
}

/// A `$CARGO` that logs each call's arguments (one line, \x1f between)
/// and stops at `build` (what the loader build would get is all we need).
fn arguments_logging_cargo(dir: &Path, log: &Path) -> std::path::PathBuf {
    let script = dir.join("logging-cargo");
    fs::write(
        &script,
        format!(
            "#!/bin/sh
(IFS=$(printf '\\037'); echo \"$*\") >> '{log}'
\
             [ \"$1\" = build ] && exit 101
exec '{cargo}' \"$@\"
",
            log = log.display(),
            cargo = env!("CARGO"),
        ),
    )
    .unwrap();
    make_executable(&script);
    script
}

#[test]
fn cargo_flags_are_passed_on_and_a_failed_build_ends_in_json() {
    let (dir, root) = new_project("flags", "minimal");
    let log = dir.path().join("cargo.log");
    let target_dir = dir.path().join("elsewhere");
    let out = output(
        cargo_xdp()
            .current_dir(&root)
            .env("CARGO", arguments_logging_cargo(dir.path(), &log))
            .args([
                "build",
                "-vv",
                "--message-format",
                "json",
                "--offline",
                "--locked",
            ])
            .args([
                "-F",
                "extra",
                "--no-default-features",
                "-j",
                "1",
                "--profile",
                "small",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .args(["--config", "net.retry=3"]),
    );
    assert!(!out.status.success());
    let calls = fs::read_to_string(&log).unwrap();
    let call = |command: &str| -> Vec<String> {
        calls
            .lines()
            .map(|l| l.split('\x1f').map(String::from).collect::<Vec<_>>())
            .find(|args| args[0] == command)
            .unwrap_or_else(|| panic!("no cargo {command}:\n{calls}"))
    };
    let build = call("build").join(" ");
    for flag in [
        "--profile small",
        "--offline",
        "--locked",
        "--config net.retry=3",
        "--features extra",
        "--no-default-features",
        "--jobs 1",
        "--verbose --verbose",
        "--color never",
    ] {
        assert!(build.contains(flag), "cargo build lacks {flag}: {build}");
    }
    assert!(
        build.contains(&format!("--target-dir {}", target_dir.display())),
        "{build}"
    );
    let metadata = call("metadata").join(" ");
    for flag in ["--offline", "--locked", "--config net.retry=3"] {
        assert!(
            metadata.contains(flag),
            "cargo metadata lacks {flag}: {metadata}"
        );
    }
    // target/xdp moved with --target-dir.
    assert!(target_dir
        .join("xdp/linux-x86_64/kern/flags_kern.o")
        .is_file());
    // stdout is JSON only, ending with build-finished.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let messages: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m["reason"] == "build-finished" && m["success"] == false),
        "{stdout}"
    );
}

#[test]
fn colour_follows_the_flag_then_cargo_term_color_and_one_finished_line() {
    let (_dir, root) = new_project("colours", "minimal");
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let stderr = |args: &[&str], env: &[(&str, &str)]| {
        let out = output(
            cargo_xdp()
                .current_dir(&root)
                .arg("build")
                .args(args)
                .envs(env.iter().copied()),
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // cargo's own: bold bright green.
    const GREEN: &str = "\x1b[1;92m";
    assert!(stderr(&["--color", "always"], &[]).contains(GREEN));
    assert!(stderr(&[], &[("CARGO_TERM_COLOR", "always")]).contains(GREEN));
    assert!(!stderr(&["--color", "never"], &[("CARGO_TERM_COLOR", "always")]).contains(GREEN));
    // Not a terminal: auto means none (NO_COLOR would too).
    let plain = stderr(&[], &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert_eq!(plain.matches("Finished").count(), 1, "{plain}");
    assert!(
        plain.contains("Finished `debug` bundle for linux-x86_64 in "),
        "{plain}"
    );
}

#[test]
fn json_everywhere_is_json_and_doctor_errors_stand_alone() {
    let listed = ok(cargo_xdp().args(["new", "--list", "--message-format", "json"]));
    for line in listed.lines() {
        let message: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(message["reason"], "template", "{line}");
    }
    assert!(listed.contains(r#""name":"filter""#), "{listed}");
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        cargo_xdp()
            .current_dir(dir.path())
            .env("ANDROID_NDK_HOME", "/nonexistent/ndk")
            .args(["doctor", "--json", "--target", "android-arm64"]),
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["reason"], "error", "{stdout}");
    let message = last["message"].as_str().unwrap();
    assert!(
        !message.contains("above") && message.contains("android-arm64"),
        "{message}"
    );
    let finished = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["reason"] == "doctor-finished")
        .unwrap();
    assert_eq!(finished["ok"], false);
    assert!(
        !finished["missing"].as_array().unwrap().is_empty(),
        "{finished}"
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(cargo_xdp().args(["completions", shell]));
        assert!(
            script.contains("cargo-xdp") && script.contains("deploy"),
            "{shell}"
        );
    }
    // bash really completes options of a subcommand.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cargo-xdp.bash");
    fs::write(&script, ok(cargo_xdp().args(["completions", "bash"]))).unwrap();
    let completed = ok(std::process::Command::new("bash").arg("-c").arg(format!(
        "source '{}'; f=$(complete -p cargo-xdp | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
         COMP_WORDS=(cargo-xdp build --ta); COMP_CWORD=2; $f cargo-xdp --ta build; \
         echo \"${{COMPREPLY[@]}}\"",
        script.display()
    )));
    assert!(completed.contains("--target"), "{completed}");
}

#[test]
fn new_starts_a_git_repository_unless_inside_one_or_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let new = |args: &[&str], cwd: &Path| ok(cargo_xdp().current_dir(cwd).arg("new").args(args));
    new(&["alone", "--template", "minimal"], dir.path());
    assert!(dir.path().join("alone/.git").is_dir());
    assert!(dir.path().join("alone/.gitignore").is_file());
    new(&["plain", "--vcs", "none"], dir.path());
    assert!(!dir.path().join("plain/.git").exists());
    // Inside a repository: the project joins it.
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("sub")).unwrap();
    ok(std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(&repo));
    new(&["inner"], &repo.join("sub"));
    assert!(repo.join("sub/inner/Cargo.toml").is_file());
    assert!(!repo.join("sub/inner/.git").exists());
}

#[test]
fn packet_tests_say_what_they_need() {
    let (_dir, root) = new_project("needs", "minimal");
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["test", "--target", "arm64-v8a"]),
    );
    assert!(
        error.contains("for android-arm64 run them on a device with `cargo xdp test --adb`"),
        "{error}"
    );
    std::fs::remove_dir_all(root.join("needs_kern/tests")).unwrap();
    let error = fails(cargo_xdp().current_dir(&root).arg("test"));
    assert!(
        error.contains("no packet tests: write cases in") && error.contains("needs_kern/tests"),
        "{error}"
    );
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["test", "--", "--prog", "x"]),
    );
    assert!(
        error.contains("options after `--` go with --pcap"),
        "{error}"
    );
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["test", "--pcap", "/nonexistent.pcap"]),
    );
    assert!(error.contains("cannot read /nonexistent.pcap"), "{error}");
}

/// On a terminal (a pty from `script`): colours by default, and the kern
/// progress bar is cleared, never left among the status lines.
#[test]
fn on_a_terminal_bars_leave_no_trace() {
    let (_dir, root) = new_project("onatty", "minimal");
    let command = format!(
        "CARGO_TARGET_DIR='{}' '{}' xdp build",
        shared_target_dir().display(),
        env!("CARGO_BIN_EXE_cargo-xdp")
    );
    let out = ok(std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&root)
        .env_remove("CARGO_TERM_COLOR")
        .env_remove("NO_COLOR"));
    assert!(
        out.contains("\x1b[1;92m"),
        "no colour on a terminal: {out:?}"
    );
    // What stays on screen: each line's text after its last carriage return
    // or clear-line, without colours.
    let visible: Vec<String> = out
        .split('\n')
        .map(|line| {
            let line = line.trim_end_matches('\r');
            let start = [
                line.rfind('\r').map(|i| i + 1),
                line.rfind("\x1b[2K").map(|i| i + 4),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
            let mut text = String::new();
            let mut chars = line[start..].chars();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    chars.by_ref().find(|c| c.is_ascii_alphabetic());
                } else {
                    text.push(c);
                }
            }
            text
        })
        .collect();
    assert!(
        !visible.iter().any(|l| l.contains("Kern [")),
        "a bar stayed: {visible:#?}"
    );
    assert!(
        visible
            .iter()
            .any(|l| l.contains("Compiling onatty_kern/onatty_kern.c"))
            && visible
                .iter()
                .any(|l| l.contains("Finished `debug` bundle")),
        "{visible:#?}"
    );
}

fn bundle_path(name: &str) -> std::path::PathBuf {
    shared_target_dir().join(format!("xdp/linux-x86_64/debug/{name}-linux-x86_64.tar.gz"))
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// clangd, given only the compile_commands.json a build writes, finds every
/// header of a template's kern source (libbpf's, the kernel's, the
/// project's own); without it the same check fails; `compile-commands =
/// false` writes none.
#[test]
fn editors_find_every_header_through_compile_commands() {
    let Some(clangd) = ["clangd-19", "clangd"]
        .into_iter()
        .find(|c| which_on_path(c))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: install clangd (tests/setup.sh does)"
        );
        eprintln!("SKIPPED editors_find_every_header_through_compile_commands: no clangd on PATH");
        return;
    };
    let (_dir, root) = new_project("edited", "filter");
    ok(cargo_xdp().current_dir(&root).args(["xdp", "build", "-q"]));
    let database = root.join("compile_commands.json");
    let entries: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&database).unwrap()).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
    assert_eq!(entries[0]["file"], "edited_kern/edited_kern.c");
    let check = || {
        let out = output(
            std::process::Command::new(clangd)
                .current_dir(&root)
                .arg("--check=edited_kern/edited_kern.c"),
        );
        text(&out)
    };
    let checked = check();
    assert!(
        checked.contains("All checks completed, 0 errors"),
        "{checked}"
    );
    // The check means something: without the database the includes fail.
    fs::remove_file(&database).unwrap();
    let blind = check();
    assert!(
        blind.contains("file not found") && !blind.contains("completed, 0 errors"),
        "{blind}"
    );
    let manifest = root.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap().replace(
        "[workspace.metadata.xdp]\n",
        "[workspace.metadata.xdp]\ncompile-commands = false\n",
    );
    fs::write(&manifest, text).unwrap();
    ok(cargo_xdp().current_dir(&root).args(["xdp", "build", "-q"]));
    assert!(!database.exists());
}

fn which_on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
