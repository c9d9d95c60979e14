//! This project's part of the loader: where packets go (the kern side's
//! `redirect_to` DEVMAP, slot 0), given to `attach` as `--to IFACE`.

use anyhow::{bail, Context, Result};
use aya::maps::{DevMap, MapData};
use cargo_xdp_loader::interface::{check_interface, interface_index, interface_name};
use cargo_xdp_loader::{xdp, Args, AttachOptions, Extension, Project};

/// The redirect template's additions to the loader.
pub struct Redirect;

/// What main.rs hands the runtime.
pub static LOADER: Redirect = Redirect;

impl Extension for Redirect {
    fn attach_usage(&self) -> &str {
        " --to IFACE"
    }

    fn command_usage(&self) -> &str {
        "\n  {{loader}} target [IFACE]"
    }

    fn help(&self) -> &str {
        "  --to IFACE      send every packet out of IFACE (XDP_REDIRECT); needed
  `target` shows where packets go; with IFACE it changes it, live.
"
    }

    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        let Some(to) = args.value("--to")? else {
            bail!("attach needs --to IFACE: the interface packets leave through");
        };
        check_interface(&to)?;
        Ok(Box::new(To(to)))
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        (name == "target").then(|| target_command(project, args))
    }
}

/// `--to IFACE`.
struct To(String);

impl AttachOptions for To {
    fn apply(&self, project: &Project) -> Result<()> {
        write_target(project, &self.0)
    }

    fn describe(&self) -> String {
        format!(" (every packet out of {})", self.0)
    }
}

fn target_command(project: &Project, mut args: Args) -> Result<()> {
    xdp::require_root()?;
    let to = args.positional();
    args.finish()?;
    if let Some(to) = &to {
        check_interface(to)?;
        write_target(project, to)?;
    }
    let map: DevMap<MapData> = DevMap::try_from(project.pinned_map("redirect_to")?)?;
    match map.get(0, 0) {
        Ok(value) => match interface_name(value.if_index) {
            Some(name) => println!("packets go out of {name}"),
            None => println!("packets go out of interface {} (gone)", value.if_index),
        },
        Err(_) => println!("no target: packets are dropped (attach with --to IFACE)"),
    }
    Ok(())
}

fn write_target(project: &Project, interface: &str) -> Result<()> {
    let index = interface_index(interface)?;
    let mut map: DevMap<MapData> = DevMap::try_from(project.pinned_map("redirect_to")?)?;
    map.set(0, index, None, 0)
        .with_context(|| format!("cannot make {interface} the target"))
}
