//! What `attach` sets in the object before its program sees a packet, from
//! the command line: `const volatile` globals (`--set NAME=VALUE`) and the
//! entries of PROG_ARRAY maps for tail calls (`--tail MAP:INDEX=PROG`).

use std::{
    collections::HashMap,
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use anyhow::{bail, Context, Result};
use aya::{maps::ProgramArray, programs::Xdp, Ebpf, EbpfError, EbpfLoader};

/// What `attach` (and `test-run`'s cases) take about the object itself:
/// `--prog`, `--set` and `--tail`, taken off `args`.
pub struct ObjectOptions {
    pub program: Option<String>,
    pub globals: Vec<Global>,
    pub tails: Vec<TailCall>,
}

impl ObjectOptions {
    pub fn take(args: &mut crate::Args) -> Result<ObjectOptions> {
        Ok(ObjectOptions {
            program: args.value("--prog")?,
            globals: args
                .values("--set")?
                .iter()
                .map(|v| Global::parse(v))
                .collect::<Result<_>>()?,
            tails: args
                .values("--tail")?
                .iter()
                .map(|v| TailCall::parse(v))
                .collect::<Result<_>>()?,
        })
    }
}

/// `--set NAME=VALUE`: an integer (decimal, `0x` hex, or negative) written
/// at the size the global has in the object.
pub struct Global {
    pub name: String,
    pub value: i128,
}

impl Global {
    pub fn parse(text: &str) -> Result<Global> {
        let (name, value) = text
            .split_once('=')
            .with_context(|| format!("--set {text}: write NAME=VALUE, e.g. --set drop_proto=17"))?;
        let value = parse_int(value)
            .with_context(|| format!("--set {text}: `{value}` is not an integer"))?;
        if name.is_empty() {
            bail!("--set {text}: the global's name is missing");
        }
        Ok(Global {
            name: name.to_string(),
            value,
        })
    }

    /// Little-endian in `size` bytes (BPF is little-endian on every target
    /// here), or an error when the value does not fit.
    fn encode(&self, size: usize) -> Result<Vec<u8>> {
        let bits = 8 * size as u32;
        let fits = if size >= 16 {
            true
        } else {
            let min = -(1i128 << (bits - 1));
            let max = (1i128 << bits) - 1;
            (min..=max).contains(&self.value)
        };
        if !fits || size > 16 {
            bail!(
                "--set {}={}: the value does not fit the global, which is {size} bytes",
                self.name,
                self.value
            );
        }
        Ok(self.value.to_le_bytes()[..size].to_vec())
    }
}

fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if negative { -value } else { value })
}

/// `--tail MAP:INDEX=PROG`: entry INDEX of the PROG_ARRAY MAP runs PROG.
pub struct TailCall {
    pub map: String,
    pub index: u32,
    pub program: String,
}

impl TailCall {
    pub fn parse(text: &str) -> Result<TailCall> {
        let usage =
            || format!("--tail {text}: write MAP:INDEX=PROG, e.g. --tail jump_table:0=parse_ipv4");
        let (slot, program) = text.split_once('=').with_context(usage)?;
        let (map, index) = slot.rsplit_once(':').with_context(usage)?;
        let index = index.parse().with_context(usage)?;
        if map.is_empty() || program.is_empty() {
            bail!(usage());
        }
        Ok(TailCall {
            map: map.to_string(),
            index,
            program: program.to_string(),
        })
    }
}

/// Loads `object` with the globals set. The size of each global is known
/// only to the object: try 4 bytes, and where aya says the global has
/// another size, that size.
pub fn load(object: &Path, maps_dir: &Path, globals: &[Global]) -> Result<Ebpf> {
    let mut sizes: HashMap<&str, usize> = globals.iter().map(|g| (g.name.as_str(), 4)).collect();
    for _ in 0..=globals.len() {
        let encoded: Vec<(&str, Vec<u8>)> = globals
            .iter()
            .map(|g| Ok((g.name.as_str(), g.encode(sizes[g.name.as_str()])?)))
            .collect::<Result<_>>()?;
        let mut loader = EbpfLoader::new();
        loader.default_map_pin_directory(maps_dir);
        for (name, bytes) in &encoded {
            loader.override_global(name, bytes.as_slice(), true);
        }
        match loader.load_file(object) {
            Ok(ebpf) => return Ok(ebpf),
            Err(EbpfError::ParseError(aya_obj::ParseError::InvalidGlobalData {
                name,
                sym_size,
                ..
            })) if sizes.get(name.as_str()) != Some(&(sym_size as usize)) => {
                let global = globals.iter().find(|g| g.name == name).expect("ours");
                sizes.insert(global.name.as_str(), sym_size as usize);
            }
            Err(EbpfError::ParseError(aya_obj::ParseError::SymbolNotFound { name }))
                if globals.iter().any(|g| g.name == name) =>
            {
                bail!(
                    "--set {name}=...: the object has no global `{name}` (declare it in the C \
                     program as `const volatile` at file scope)"
                )
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot load {}", object.display()))
            }
        }
    }
    bail!("cannot fit the --set values to the object's globals")
}

/// Loads each tail-call program and puts it into its PROG_ARRAY slot, then
/// pins the map under `maps_dir`: the kernel empties a PROG_ARRAY when no
/// file descriptor or pin of it is left, which would be when this process
/// exits.
pub fn fill_tail_calls(ebpf: &mut Ebpf, tails: &[TailCall], maps_dir: &Path) -> Result<()> {
    for tail in tails {
        let program: &mut Xdp = ebpf
            .program_mut(&tail.program)
            .with_context(|| {
                format!(
                    "--tail {}:{}={}: the object has no program `{}`",
                    tail.map, tail.index, tail.program, tail.program
                )
            })?
            .try_into()
            .with_context(|| format!("--tail: `{}` is not an XDP program", tail.program))?;
        if program.fd().is_err() {
            program.load().with_context(|| {
                format!("the kernel refused tail-call program `{}`", tail.program)
            })?;
        }
        let fd = program.fd()?.try_clone()?;
        let map = ebpf.map_mut(&tail.map).with_context(|| {
            format!(
                "--tail {}:{}={}: the object has no map `{}`",
                tail.map, tail.index, tail.program, tail.map
            )
        })?;
        let mut array = ProgramArray::try_from(map)
            .with_context(|| format!("--tail: map `{}` is not a PROG_ARRAY", tail.map))?;
        array.set(tail.index, &fd, 0).with_context(|| {
            format!(
                "--tail {}:{}={}: cannot set entry {} (the map's max_entries is its size; fd {})",
                tail.map,
                tail.index,
                tail.program,
                tail.index,
                fd.as_fd().as_raw_fd()
            )
        })?;
    }
    let mut pinned: Vec<&str> = Vec::new();
    for tail in tails {
        if pinned.contains(&tail.map.as_str()) {
            continue;
        }
        let pin = maps_dir.join(&tail.map);
        let _ = std::fs::remove_file(&pin); // an older attach's map
        ebpf.map(&tail.map)
            .expect("found above")
            .pin(&pin)
            .with_context(|| {
                format!("cannot pin PROG_ARRAY `{}` at {}", tail.map, pin.display())
            })?;
        pinned.push(&tail.map);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_are_encoded_at_their_size_or_refused() {
        let global = Global::parse("drop_proto=17").unwrap();
        assert_eq!(global.encode(4).unwrap(), [17, 0, 0, 0]);
        assert_eq!(global.encode(1).unwrap(), [17]);
        assert_eq!(
            Global::parse("x=0x1ff").unwrap().encode(2).unwrap(),
            [0xff, 1]
        );
        assert_eq!(
            Global::parse("x=-1").unwrap().encode(2).unwrap(),
            [0xff, 0xff]
        );
        assert!(Global::parse("x=256").unwrap().encode(1).is_err());
        assert!(Global::parse("x=seventeen").is_err());
        assert!(Global::parse("=1").is_err());
        assert!(Global::parse("x").is_err());
    }

    #[test]
    fn tail_calls_name_map_index_and_program() {
        let tail = TailCall::parse("jump:3=drop_it").unwrap();
        assert_eq!(
            (tail.map.as_str(), tail.index, tail.program.as_str()),
            ("jump", 3, "drop_it")
        );
        for bad in ["jump=drop", "jump:x=drop", ":1=drop", "jump:1="] {
            assert!(TailCall::parse(bad).is_err(), "{bad}");
        }
    }
}
