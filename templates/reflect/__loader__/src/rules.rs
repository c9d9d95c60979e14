//! This project's part of the loader: which UDP port the program echoes
//! (the kern side's `echo_port` map). Pings are always answered.

use anyhow::{bail, Context, Result};
use aya::maps::{Array, MapData};
use cargo_xdp_loader::{Args, AttachOptions, Extension, Project};

/// The reflect template's additions to the loader.
pub struct Reflect;

/// What main.rs hands the runtime.
pub static LOADER: Reflect = Reflect;

impl Extension for Reflect {
    fn attach_usage(&self) -> &str {
        " [--udp-port PORT]"
    }

    fn command_usage(&self) -> &str {
        "\n  {{loader}} echo-port [PORT | --off]"
    }

    fn help(&self) -> &str {
        "  --udp-port PORT echo UDP datagrams sent to PORT (e.g. 7, the echo service)
  Pings (ICMP and ICMPv6 echo) are answered from XDP, with XDP_TX.
  `echo-port` shows the echoed port; with PORT it changes it, --off stops.
"
    }

    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        let port = args.value("--udp-port")?.map(|p| parse_port(&p)).transpose()?;
        Ok(Box::new(EchoPort(port)))
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        (name == "echo-port").then(|| echo_port_command(project, args))
    }
}

/// The port given to `attach`, if any.
struct EchoPort(Option<u16>);

impl AttachOptions for EchoPort {
    fn apply(&self, project: &Project) -> Result<()> {
        // An attach's options are the whole configuration: none, pings only.
        write_port(project, self.0.unwrap_or(0))
    }

    fn describe(&self) -> String {
        match self.0 {
            Some(port) => format!(" (answering pings and UDP port {port})"),
            None => " (answering pings)".into(),
        }
    }
}

fn echo_port_command(project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let off = args.flag("--off");
    let port = args.positional();
    args.finish()?;
    match (off, port) {
        (true, Some(_)) => bail!("give a PORT or --off, not both"),
        (true, None) => write_port(project, 0)?,
        (false, Some(port)) => write_port(project, parse_port(&port)?)?,
        (false, None) => {}
    }
    let map: Array<MapData, u32> = Array::try_from(project.pinned_map("echo_port")?)?;
    match map.get(&0, 0)? {
        0 => println!("no UDP port is echoed (pings are answered)"),
        port => println!("echoing UDP port {port}"),
    }
    Ok(())
}

fn write_port(project: &Project, port: u16) -> Result<()> {
    let mut map: Array<MapData, u32> = Array::try_from(project.pinned_map("echo_port")?)?;
    map.set(0, u32::from(port), 0)
        .context("cannot write the echo port")
}

fn parse_port(text: &str) -> Result<u16> {
    text.parse()
        .ok()
        .filter(|&p| p != 0)
        .with_context(|| format!("`{text}` is not a UDP port (1-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(parse_port("7").unwrap(), 7);
        assert!(parse_port("0").is_err() && parse_port("70000").is_err() && parse_port("x").is_err());
    }
}
