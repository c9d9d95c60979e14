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
    assert!(
        listed.contains("filter") && listed.contains("minimal"),
        "{listed}"
    );
    assert_eq!(
        listed.lines().count(),
        2,
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
        "my-filter_kern/my-filter_kern.c",
        "my-filter_kern/include/xdp_stats.h",
        "my-filter_user/Cargo.toml",
        "my-filter_user/src/main.rs",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"my-filter\""));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("## Bringing an existing XDP program")
            && readme.contains("cflags = [\"-Imy-filter_kern/common\"]")
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
        .join("xdp/linux-x86_64/nolicense-linux-x86_64.tar.gz")
        .exists());
}

/// libbpf's headers: another pinned version is checked before cargo runs,
/// and a project's own directory must hold bpf/bpf_helpers.h.
#[test]
fn libbpf_headers_can_be_pinned_or_the_projects_own() {
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
        "twice-linux-x86_64.tar.gz",
    ] {
        fs::remove_file(xdp.join(stale)).unwrap();
    }
    ok(cargo_xdp().current_dir(&root).arg("build"));
    assert_eq!(together, fs::read(bundle_path("twice")).unwrap());
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
    // sha256sum agrees with every hash in the MANIFEST.
    let sums: String = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("sha256: "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(sums.lines().count(), 6, "{manifest}");
    fs::write(extracted.path().join("repro/SUMS"), sums).unwrap();
    ok(std::process::Command::new("sha256sum")
        .args(["-c", "SUMS"])
        .current_dir(extracted.path().join("repro")));

    // Touching a header the kern source includes rebuilds it.
    let header = root.join("repro_kern/include/xdp_stats.h");
    let text = fs::read_to_string(&header).unwrap();
    fs::write(&header, text + "\n").unwrap();
    build();
    assert!(
        log.exists(),
        "changed header did not rebuild the kern object"
    );
}

#[test]
fn run_without_root_says_so() {
    if !is_root() {
        let error = fails(cargo_xdp().args(["run", "eth0"]));
        assert!(error.contains("needs root"), "{error}");
        return;
    }
    // As root: drop to nobody to see the same error.
    let error = fails(
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_cargo-xdp"))
            .args(["run", "eth0"]),
    );
    assert!(error.contains("needs root"), "{error}");
}

fn bundle_path(name: &str) -> std::path::PathBuf {
    shared_target_dir().join(format!("xdp/linux-x86_64/{name}-linux-x86_64.tar.gz"))
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}
