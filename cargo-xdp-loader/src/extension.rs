//! What a project adds to the loader: the one place a user changes it.

use anyhow::Result;

use crate::{args::Args, xdp::Project};

/// A project's own part of its loader: options of `attach` (filter rules,
/// say), commands of its own (`rules`), the program attached by default.
/// Every method has a default, so a project without any of these writes
/// `impl Extension for Mine {}`.
///
/// ```
/// use anyhow::Result;
/// use cargo_xdp_loader::{Args, AttachOptions, Extension, Project};
///
/// /// `attach IFACE --verbose-log` and a `hello` command.
/// struct Mine;
///
/// struct Options { verbose: bool }
///
/// impl AttachOptions for Options {
///     fn apply(&self, _project: &Project) -> Result<()> {
///         // Runs once the maps exist, before the program sees a packet:
///         // write map entries here (see the filter template's rules.rs).
///         Ok(())
///     }
///     fn describe(&self) -> String {
///         if self.verbose { " (verbose)".into() } else { String::new() }
///     }
/// }
///
/// impl Extension for Mine {
///     fn attach_usage(&self) -> &str { " [--verbose-log]" }
///     fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
///         Ok(Box::new(Options { verbose: args.flag("--verbose-log") }))
///     }
///     fn command(&self, _project: &Project, name: &str, _args: Args) -> Option<Result<()>> {
///         (name == "hello").then(|| { println!("hello"); Ok(()) })
///     }
/// }
/// ```
pub trait Extension {
    /// The program `attach` takes without `--prog` (used only when the
    /// object has it).
    fn default_program(&self) -> Option<&str> {
        None
    }

    /// Appended to the `attach IFACE ...` usage line.
    fn attach_usage(&self) -> &str {
        ""
    }

    /// More usage lines, for the commands [`Extension::command`] answers.
    fn command_usage(&self) -> &str {
        ""
    }

    /// A paragraph after the options in `--help`.
    fn help(&self) -> &str {
        ""
    }

    /// Reads this project's options of `attach` (take them off `args`);
    /// what they do runs once the maps exist, before the first packet.
    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        let _ = args;
        Ok(Box::new(NoOptions))
    }

    /// A command the runtime does not know (`NAME_user COMMAND ...`), or
    /// None to let the runtime call it unknown.
    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        let _ = (project, name, args);
        None
    }

    /// Global data sections (`.bss.rules`) a kernel variant of the program
    /// reads instead of maps (global_data.rs): each program's copy is
    /// laid out by [`Extension::fill_global_data`].
    fn global_data_sections(&self) -> &[&str] {
        &[]
    }

    /// Lays out `data`, the value of global data section `section` (as
    /// the program has it now), from the project's pinned maps. Runs for
    /// a program an attach or a packet test loads, after the options and
    /// entries are written, and for every attached program when a command
    /// calls `global_data::refresh_attached`.
    fn fill_global_data(&self, project: &Project, section: &str, data: &mut [u8]) -> Result<()> {
        let _ = (project, section, data);
        Ok(())
    }
}

/// What an `attach` was given beyond the runtime's own options.
pub trait AttachOptions {
    /// Writes into the maps (they exist, pinned); the program is loaded
    /// but sees no packet until this returns.
    fn apply(&self, project: &Project) -> Result<()>;

    /// Said after "Attached NAME to IFACE in MODE mode" (e.g. " (drop icmp)").
    fn describe(&self) -> String {
        String::new()
    }
}

/// No options at all.
pub struct NoOptions;

impl AttachOptions for NoOptions {
    fn apply(&self, _project: &Project) -> Result<()> {
        Ok(())
    }
}

/// An extension with nothing of its own.
pub struct Plain;

impl Extension for Plain {}

/// For commands an extension refuses with a reason.
pub fn refuse(message: &str) -> Option<Result<()>> {
    Some(Err(anyhow::anyhow!("{message}")))
}
