//! Finds the project (with `cargo metadata`) and reads its
//! `[workspace.metadata.xdp]` table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_metadata::MetadataCommand;

use crate::{cargo_args::CargoArgs, workspace};
use cargo_xdp_wire::variants::KernelVersion;
use serde::Deserialize;

/// `[workspace.metadata.xdp]` as `cargo xdp new` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XdpMetadata {
    pub name: String,
    #[serde(default)]
    pub kern: Vec<PathBuf>,
    pub loader: String,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Android API level the loader links against (default 21).
    #[serde(default)]
    pub api: Option<u32>,
    /// The libbpf-sys version whose libbpf headers kern code gets.
    #[serde(default)]
    pub libbpf: Option<String>,
    /// A directory of the project's own holding `bpf/bpf_helpers.h` ...
    #[serde(default, rename = "libbpf-include")]
    pub libbpf_include: Option<PathBuf>,
    /// Which kernel uapi headers kern code reads first: the pinned Debian
    /// tree (no key), "libc" (the C library's copies), or a directory.
    #[serde(default, rename = "kernel-headers")]
    pub kernel_headers: Option<String>,
    /// The BPF instruction set to compile for (default: the target's).
    #[serde(default, rename = "bpf-cpu")]
    pub bpf_cpu: Option<crate::isa::BpfCpu>,
    /// Which program of which kern object the loader attaches where
    /// (default: the first kern source's object, the loader's own default
    /// program, on every interface).
    #[serde(default)]
    pub attach: Vec<AttachRule>,
    /// Where the build writes compile_commands.json for editors: a path
    /// (relative to the project root), or `false` for nowhere (default:
    /// the root's compile_commands.json).
    #[serde(default, rename = "compile-commands")]
    pub compile_commands: Option<CompileCommands>,
    /// Kernels each kern source is compiled again for, with
    /// `CARGO_XDP_KERNEL` defined (cargo_xdp_wire::variants): the loader
    /// loads the newest variant the running kernel allows.
    #[serde(default, rename = "kernel-variants")]
    pub kernel_variants: Vec<KernelVersion>,
}

/// `compile-commands = "path"` or `compile-commands = false`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CompileCommands {
    Write(bool),
    At(PathBuf),
}

impl XdpMetadata {
    /// The kernel variants, oldest first, each once.
    pub fn variants(&self) -> Vec<KernelVersion> {
        let mut versions = self.kernel_variants.clone();
        versions.sort();
        versions.dedup();
        versions
    }

    /// Where compile_commands.json goes, if anywhere.
    pub fn compile_commands_path(&self, root: &Path) -> Option<PathBuf> {
        match &self.compile_commands {
            None | Some(CompileCommands::Write(true)) => Some(root.join("compile_commands.json")),
            Some(CompileCommands::Write(false)) => None,
            Some(CompileCommands::At(path)) => Some(root.join(path)),
        }
    }
}

/// One `[[workspace.metadata.xdp.attach]]`: attach `program` of the object
/// built from the kern source with stem `object` to `interfaces` (all when
/// empty). The first rule naming an interface wins, then the first for all.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AttachRule {
    pub object: String,
    #[serde(default)]
    pub program: Option<String>,
    #[serde(default)]
    pub interfaces: Vec<String>,
}

pub struct Project {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub meta: XdpMetadata,
    /// The loader crate's Cargo.toml.
    pub loader_manifest: PathBuf,
    /// The workspace's manifests (root and members) when they were read here
    /// (workspace.rs), not by `cargo metadata`: what the loader's freshness
    /// check watches of the workspace. `None` leaves that check to cargo.
    pub manifests: Option<Vec<PathBuf>>,
}

impl Project {
    /// The project around `manifest_path`, or around the current directory.
    pub fn find(manifest_path: Option<&Path>) -> Result<Project> {
        Self::find_with(manifest_path, &CargoArgs::default())
    }

    /// The same, as cargo sees it with the flags the build passes on
    /// (`--config`, `--offline` ...; `--target-dir` moves target/xdp too).
    pub fn find_with(manifest_path: Option<&Path>, cargo_args: &CargoArgs) -> Result<Project> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let context = workspace::Context::of_this_process(
            &cwd,
            cargo_args.target_dir(),
            !cargo_args.config.is_empty(),
        );
        match workspace::Layout::read(manifest_path, &context) {
            Some(layout) => Self::from_layout(layout),
            None => Self::from_cargo_metadata(manifest_path, cargo_args),
        }
    }

    /// From the manifests (see workspace.rs): no process.
    fn from_layout(layout: workspace::Layout) -> Result<Project> {
        let manifest = layout.root.join("Cargo.toml");
        let meta =
            toml_edit::de::from_document::<XdpMetadata>(layout.xdp).map_err(anyhow::Error::from);
        let mut manifests: Vec<PathBuf> = layout.members.iter().map(|(_, m)| m.clone()).collect();
        manifests.push(manifest.clone());
        let mut project = Self::assemble(
            layout.root,
            layout.target_dir,
            meta,
            &layout.members,
            &manifest,
        )?;
        project.manifests = Some(manifests);
        Ok(project)
    }

    /// From `cargo metadata`, for the layouts only cargo can be sure of.
    fn from_cargo_metadata(
        manifest_path: Option<&Path>,
        cargo_args: &CargoArgs,
    ) -> Result<Project> {
        let mut command = MetadataCommand::new();
        command.no_deps();
        if let Some(path) = manifest_path {
            command.manifest_path(path);
        }
        command.other_options(cargo_args.global());
        let metadata = crate::process::cargo_metadata(&command).context(
            "cannot read the project with `cargo metadata`: run this inside a project made by \
             `cargo xdp new`, or pass --manifest-path",
        )?;
        let root = metadata.workspace_root.clone().into_std_path_buf();
        let manifest = root.join("Cargo.toml");
        let Some(table) = metadata.workspace_metadata.get("xdp") else {
            bail!(
                "{} has no [workspace.metadata.xdp] table, so it is not a cargo-xdp project; \
                 create one with `cargo xdp new NAME`",
                manifest.display()
            );
        };
        let meta =
            serde_json::from_value::<XdpMetadata>(table.clone()).map_err(anyhow::Error::from);
        let members = members_of(&metadata);
        let target_dir = cargo_args
            .target_dir()
            .unwrap_or_else(|| metadata.target_directory.into_std_path_buf());
        Self::assemble(root, target_dir, meta, &members, &manifest)
    }

    /// The checked project, however it was found.
    fn assemble(
        root: PathBuf,
        target_dir: PathBuf,
        meta: Result<XdpMetadata>,
        members: &[(String, PathBuf)],
        manifest: &Path,
    ) -> Result<Project> {
        let meta = meta.with_context(|| {
            format!(
                "[workspace.metadata.xdp] in {} is not valid",
                manifest.display()
            )
        })?;
        crate::names::validate(&meta.name)
            .with_context(|| format!("[workspace.metadata.xdp] name in {}", manifest.display()))?;
        let Some((_, loader_manifest)) = members.iter().find(|(name, _)| *name == meta.loader)
        else {
            bail!(
                "[workspace.metadata.xdp] loader = \"{}\" is not a package of the workspace in {}; \
                 add it to [workspace] members or fix the name",
                meta.loader,
                manifest.display()
            );
        };
        let mut project = Project {
            root,
            target_dir,
            loader_manifest: loader_manifest.clone(),
            meta,
            manifests: None,
        };
        if project.meta.kern.is_empty() {
            let kern = crate::names::kern_stem(&project.meta.name);
            project.meta.kern = vec![PathBuf::from(format!("{kern}/{kern}.c"))];
        }
        check_kern_sources(&project.root, &project.meta.kern, manifest)?;
        check_attach_rules(&project.meta, manifest)?;
        Ok(project)
    }

    /// The bundle's `<name>.attach`: `INTERFACE|* OBJECT PROGRAM|-` per
    /// line, read by the loader when `attach` gets no --object/--prog; the
    /// default rule (the first kern object, everywhere) last.
    pub fn attach_table(&self) -> String {
        let mut table = String::new();
        for rule in &self.meta.attach {
            let program = rule.program.as_deref().unwrap_or("-");
            if rule.interfaces.is_empty() {
                table.push_str(&format!("* {} {program}\n", rule.object));
            }
            for interface in &rule.interfaces {
                table.push_str(&format!("{interface} {} {program}\n", rule.object));
            }
        }
        let first = self.meta.kern[0]
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        table.push_str(&format!("* {first} -\n"));
        table
    }

    /// Whether the cargo profile `profile` (`release`, `dev`, a custom one)
    /// aborts on panic, as cargo decides: $CARGO_PROFILE_<NAME>_PANIC, then
    /// `[profile]` of cargo's config files, then the manifest's. (Where
    /// cargo's config cannot be read for sure, only env and manifest count:
    /// the cost of a wrong guess is an abort instead of an unwind.)
    pub fn profile_aborts_on_panic(&self, profile: &str) -> bool {
        let manifest = std::fs::read_to_string(self.root.join("Cargo.toml"))
            .ok()
            .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok());
        let configs = std::env::current_dir()
            .ok()
            .and_then(|cwd| {
                workspace::config_files(&workspace::Context::of_this_process(&cwd, None, false))
            })
            .unwrap_or_default();
        let mut sources: Vec<&toml_edit::DocumentMut> =
            configs.iter().map(|(_, doc)| doc).collect();
        sources.extend(manifest.as_ref());
        profile_aborts_on_panic(&sources, profile, |name| std::env::var(name).ok())
    }

    /// `target/xdp/<target>/`: kern objects, stamps and the bundle.
    pub fn xdp_dir(&self, target: &str) -> PathBuf {
        self.target_dir.join("xdp").join(target)
    }
}

/// Every package of the workspace: its name and its Cargo.toml.
fn members_of(metadata: &cargo_metadata::Metadata) -> Vec<(String, PathBuf)> {
    metadata
        .packages
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                p.manifest_path.clone().into_std_path_buf(),
            )
        })
        .collect()
}

/// $CARGO_PROFILE_<NAME>_PANIC, else `panic` in the first of `sources`
/// (config files, then the manifest) with `[profile.<name>]` saying it,
/// following `inherits`, else cargo's default: unwind.
fn profile_aborts_on_panic(
    sources: &[&toml_edit::DocumentMut],
    profile: &str,
    env: impl Fn(&str) -> Option<String>,
) -> bool {
    let mut name = profile.to_string();
    // `inherits` chains are short; a cycle is cargo's error to report.
    for _ in 0..8 {
        let variable = format!(
            "CARGO_PROFILE_{}_PANIC",
            name.replace('-', "_").to_uppercase()
        );
        if let Some(value) = env(&variable) {
            return value == "abort";
        }
        let setting = |key: &str| {
            sources.iter().find_map(|doc| {
                doc.get("profile")
                    .and_then(|profiles| profiles.get(&name))
                    .and_then(|table| table.get(key))
                    .and_then(|value| value.as_str())
                    .map(String::from)
            })
        };
        if let Some(panic) = setting("panic") {
            return panic == "abort";
        }
        match setting("inherits") {
            Some(parent) => name = parent,
            None => return false,
        }
    }
    false
}

/// Kern sources are `.c` files inside the project (clang must never be fed
/// `../../etc/passwd`), with distinct file stems (each becomes `<stem>.o` in
/// one bundle directory).
fn check_kern_sources(root: &Path, sources: &[PathBuf], manifest: &Path) -> Result<()> {
    let canonical_root = root
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", root.display()))?;
    let mut stems: Vec<(String, &PathBuf)> = Vec::new();
    for source in sources {
        let path = root.join(source);
        if source.extension().and_then(|e| e.to_str()) != Some("c") {
            bail!(
                "kern source `{}` (in [workspace.metadata.xdp] kern of {}) is not a .c file: \
                 list the C sources clang compiles, headers come through #include",
                source.display(),
                manifest.display()
            );
        }
        if !path.is_file() {
            bail!(
                "kern source {} (listed in [workspace.metadata.xdp] kern) does not exist",
                path.display()
            );
        }
        let resolved = path.canonicalize()?;
        if !resolved.starts_with(&canonical_root) {
            bail!(
                "kern source `{}` (in [workspace.metadata.xdp] kern of {}) is outside the \
                 project ({} is not under {}): copy it into the project, or name its \
                 directory in cflags with -I if you only need its headers",
                source.display(),
                manifest.display(),
                resolved.display(),
                canonical_root.display()
            );
        }
        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((_, first)) = stems.iter().find(|(s, _)| *s == stem) {
            bail!(
                "kern sources `{}` and `{}` would both build {stem}.o (in [workspace.metadata.xdp] \
                 kern of {}): rename one",
                first.display(),
                source.display(),
                manifest.display()
            );
        }
        stems.push((stem, source));
    }
    Ok(())
}

/// Attach rules name kern objects the project builds and interface names
/// Linux allows (they reach the device's shell through the loader).
fn check_attach_rules(meta: &XdpMetadata, manifest: &Path) -> Result<()> {
    let stems: Vec<String> = meta
        .kern
        .iter()
        .filter_map(|k| k.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for rule in &meta.attach {
        if !stems.contains(&rule.object) {
            bail!(
                "[[workspace.metadata.xdp.attach]] object = \"{}\" in {} is not a kern object of \
                 the project; use the file stem of one of the kern sources: {}",
                rule.object,
                manifest.display(),
                stems.join(", ")
            );
        }
        for interface in &rule.interfaces {
            cargo_xdp_wire::interface::check_interface(interface).with_context(|| {
                format!(
                    "[[workspace.metadata.xdp.attach]] in {}",
                    manifest.display()
                )
            })?;
        }
        if let Some(program) = &rule.program {
            if program.is_empty()
                || !program
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bail!(
                    "[[workspace.metadata.xdp.attach]] program = \"{program}\" in {} is not a C \
                     function name",
                    manifest.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_commands_go_to_the_root_elsewhere_or_nowhere() {
        let read = |line: &str| -> XdpMetadata {
            toml_edit::de::from_str(&format!("name = \"p\"\nloader = \"p_user\"\n{line}")).unwrap()
        };
        let root = Path::new("/p");
        assert_eq!(
            read("").compile_commands_path(root),
            Some(PathBuf::from("/p/compile_commands.json"))
        );
        assert_eq!(
            read("compile-commands = \"build/cc.json\"").compile_commands_path(root),
            Some(PathBuf::from("/p/build/cc.json"))
        );
        assert_eq!(
            read("compile-commands = false").compile_commands_path(root),
            None
        );
    }

    #[test]
    fn attach_rules_name_objects_and_interfaces_and_end_with_the_default() {
        let meta = |attach: Vec<AttachRule>| XdpMetadata {
            name: "p".into(),
            kern: vec![PathBuf::from("k/p_kern.c"), PathBuf::from("k/extra.c")],
            loader: "p_user".into(),
            targets: vec![],
            cflags: vec![],
            api: None,
            libbpf: None,
            libbpf_include: None,
            kernel_headers: None,
            bpf_cpu: None,
            attach,
            compile_commands: None,
            kernel_variants: Vec::new(),
        };
        let rule = |object: &str, program: Option<&str>, interfaces: &[&str]| AttachRule {
            object: object.into(),
            program: program.map(String::from),
            interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
        };
        let manifest = Path::new("Cargo.toml");
        let good = meta(vec![
            rule("extra", Some("drop_all"), &["wlan0", "rmnet_data0"]),
            rule("p_kern", None, &[]),
        ]);
        check_attach_rules(&good, manifest).unwrap();
        let project = Project {
            root: PathBuf::from("/p"),
            target_dir: PathBuf::from("/p/target"),
            meta: good,
            loader_manifest: PathBuf::from("/p/p_user/Cargo.toml"),
            manifests: None,
        };
        assert_eq!(
            project.attach_table(),
            "wlan0 extra drop_all\nrmnet_data0 extra drop_all\n* p_kern -\n* p_kern -\n"
        );
        let error = |rules| {
            check_attach_rules(&meta(rules), manifest)
                .unwrap_err()
                .to_string()
        };
        assert!(error(vec![rule("nope", None, &[])]).contains("not a kern object"));
        assert!(format!(
            "{:#}",
            check_attach_rules(&meta(vec![rule("extra", None, &["wlan0;id"])]), manifest)
                .unwrap_err()
        )
        .contains("not an interface name"));
        assert!(error(vec![rule("extra", Some("x y"), &[])]).contains("not a C function name"));
    }

    /// The manifest reading of workspace.rs against `cargo metadata`, on
    /// every layout it answers for; the ones it leaves to cargo say `None`.
    #[test]
    fn workspace_layout_agrees_with_cargo_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().canonicalize().unwrap();
        let home = top.join("cargo-home");
        let root = top.join("ws").join("proj");
        let write = |path: &Path, text: &str| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let root_manifest = "[workspace]\nmembers = [\"p_user\", \"tools/\"]\nresolver = \"2\"\n\
                             [workspace.metadata.xdp]\nname = \"p\"\nloader = \"p_user\"\n";
        write(&root.join("Cargo.toml"), root_manifest);
        for (member, name) in [("p_user", "p_user"), ("tools", "p-tools")] {
            write(
                &root.join(member).join("Cargo.toml"),
                &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
            );
            write(&root.join(member).join("src/main.rs"), "fn main() {}\n");
        }
        std::fs::create_dir_all(&home).unwrap();
        let check = |cwd: &Path, manifest_path: Option<&Path>, env: &[(&str, &str)]| {
            let env_of = |name: &str| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
                    .or_else(|| (name == "CARGO_HOME").then(|| home.clone().into()))
            };
            let context = workspace::Context {
                cwd,
                env: &env_of,
                target_dir: None,
                has_config_args: false,
            };
            let layout = workspace::Layout::read(manifest_path, &context)
                .unwrap_or_else(|| panic!("no layout from {}", cwd.display()));
            let mut command = MetadataCommand::new();
            command.no_deps().current_dir(cwd);
            if let Some(path) = manifest_path {
                command.manifest_path(path);
            }
            let mut cargo = command.cargo_command();
            cargo.env("CARGO_HOME", &home);
            for variable in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
                cargo.env_remove(variable);
            }
            cargo.envs(env.iter().copied());
            let output = cargo.output().unwrap();
            assert!(output.status.success(), "{output:?}");
            let metadata =
                MetadataCommand::parse(String::from_utf8(output.stdout).unwrap()).unwrap();
            assert_eq!(layout.root, metadata.workspace_root.as_std_path());
            assert_eq!(
                std::path::absolute(&layout.target_dir).unwrap(),
                metadata.target_directory.as_std_path(),
                "target dir from {} with {env:?}",
                cwd.display()
            );
            let mut members = layout.members.clone();
            members.sort();
            let mut expected = members_of(&metadata);
            expected.sort();
            assert_eq!(members, expected);
        };
        check(&root, None, &[]);
        check(&root.join("p_user/src"), None, &[]);
        check(&top, Some(&root.join("Cargo.toml")), &[]);
        check(&root.join("p_user"), None, &[("CARGO_TARGET_DIR", "rel")]);
        check(&root, None, &[("CARGO_BUILD_TARGET_DIR", "/tmp/abs")]);
        write(
            &home.join("config.toml"),
            "[build]\ntarget-dir = \"from-home\"\n",
        );
        check(&root.join("p_user"), None, &[]);
        write(
            &top.join("ws/.cargo/config.toml"),
            "[build]\ntarget-dir = \"../shared-target\"\n",
        );
        check(&root.join("p_user"), None, &[]);
        write(
            &root.join(".cargo/config"),
            "[build]\ntarget-dir = \"out\"\n",
        );
        check(&root.join("p_user"), None, &[]);
        check(&root, None, &[("CARGO_TARGET_DIR", "env-wins")]);

        // Left to cargo: glob members, --config, both config spellings.
        let none = |cwd: &Path, has_config_args: bool| {
            let env_of = |name: &str| (name == "CARGO_HOME").then(|| home.clone().into());
            let context = workspace::Context {
                cwd,
                env: &env_of,
                target_dir: None,
                has_config_args,
            };
            workspace::Layout::read(None, &context).is_none()
        };
        assert!(none(&root, true));
        write(
            &root.join(".cargo/config.toml"),
            "[build]\ntarget-dir = \"out\"\n",
        );
        assert!(none(&root, false));
        std::fs::remove_file(root.join(".cargo/config.toml")).unwrap();
        write(
            &root.join("Cargo.toml"),
            &root_manifest.replace("\"tools/\"", "\"t*\""),
        );
        assert!(none(&root, false));
    }

    #[test]
    fn panic_strategy_of_a_profile_from_env_manifest_and_inherits() {
        let manifest = "[profile.release]\npanic = \"abort\"\n\
                        [profile.small]\ninherits = \"release\"\n\
                        [profile.loud]\ninherits = \"release\"\npanic = \"unwind\"\n";
        let manifest: toml_edit::DocumentMut = manifest.parse().unwrap();
        let empty = toml_edit::DocumentMut::new();
        let no_env = |_: &str| None;
        assert!(profile_aborts_on_panic(&[&manifest], "release", no_env));
        assert!(profile_aborts_on_panic(&[&manifest], "small", no_env));
        assert!(!profile_aborts_on_panic(&[&manifest], "loud", no_env));
        assert!(!profile_aborts_on_panic(&[&manifest], "dev", no_env));
        assert!(!profile_aborts_on_panic(&[&empty], "release", no_env));
        let unwind = |name: &str| (name == "CARGO_PROFILE_RELEASE_PANIC").then(|| "unwind".into());
        assert!(!profile_aborts_on_panic(&[&manifest], "small", unwind));
        // A config file's [profile] wins over the manifest's.
        let config: toml_edit::DocumentMut =
            "[profile.release]\npanic = \"unwind\"\n".parse().unwrap();
        assert!(!profile_aborts_on_panic(
            &[&config, &manifest],
            "release",
            no_env
        ));
        assert!(!profile_aborts_on_panic(
            &[&config, &manifest],
            "small",
            no_env
        ));
        let config: toml_edit::DocumentMut =
            "[profile.tiny]\ninherits = \"release\"\n".parse().unwrap();
        assert!(profile_aborts_on_panic(
            &[&config, &manifest],
            "tiny",
            no_env
        ));
    }

    #[test]
    fn kern_sources_are_c_files_inside_the_project_with_distinct_stems() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        for file in ["a/x_kern.c", "b/x_kern.c", "a/y.h", "a/z_kern.c"] {
            std::fs::write(root.join(file), "").unwrap();
        }
        std::fs::write(dir.path().join("outside.c"), "").unwrap();
        let manifest = root.join("Cargo.toml");
        let check = |list: &[&str]| {
            let list: Vec<PathBuf> = list.iter().map(PathBuf::from).collect();
            check_kern_sources(&root, &list, &manifest).map_err(|e| e.to_string())
        };
        check(&["a/x_kern.c", "a/z_kern.c"]).unwrap();
        assert!(check(&["a/x_kern.c", "b/x_kern.c"])
            .unwrap_err()
            .contains("would both build x_kern.o"));
        assert!(check(&["a/y.h"]).unwrap_err().contains("is not a .c file"));
        assert!(check(&["../outside.c"])
            .unwrap_err()
            .contains("is outside the project"));
        let absolute = dir.path().join("outside.c").display().to_string();
        assert!(check(&[absolute.as_str()])
            .unwrap_err()
            .contains("is outside the project"));
        assert!(check(&["a/none.c"]).unwrap_err().contains("does not exist"));
    }
}
