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
    pub fn take(args: &mut crate::args::Args) -> Result<ObjectOptions> {
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
#[derive(Debug, Clone, PartialEq)]
pub struct TailCall {
    pub map: String,
    pub index: u32,
    pub program: String,
    /// Filled in C (`.values = { [I] = &prog }`, libbpf's way), read from
    /// `<object>.tails` rather than given with --tail.
    pub declared: bool,
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
            declared: false,
        })
    }

    /// How errors name it: the option, or the C initializer.
    fn describe(&self) -> String {
        if self.declared {
            format!(
                "slot {} of PROG_ARRAY `{}` (filled with `{}` in C)",
                self.index, self.map, self.program
            )
        } else {
            format!("--tail {}:{}={}", self.map, self.index, self.program)
        }
    }
}

/// The slots the object's C fills (`<object>.tails` beside it, written by
/// cargo xdp build: `MAP INDEX PROGRAM` per line), then `given` (--tail),
/// which wins for the same slot: libbpf fills declared slots at load, and
/// aya 0.14 cannot read them from the object.
pub fn with_declared_tails(object: &Path, given: &[TailCall]) -> Result<Vec<TailCall>> {
    let sidecar = object.with_extension("tails");
    let text = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(given.to_vec()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sidecar.display())),
    };
    let mut tails = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [map, index, program] = fields[..] else {
            bail!(
                "{}: `{line}` is not MAP INDEX PROGRAM: rebuild with `cargo xdp build`",
                sidecar.display()
            );
        };
        let index = index.parse().with_context(|| {
            format!("{}: `{line}`: the index is not a number", sidecar.display())
        })?;
        if given.iter().any(|g| g.map == map && g.index == index) {
            continue;
        }
        tails.push(TailCall {
            map: map.to_string(),
            index,
            program: program.to_string(),
            declared: true,
        });
    }
    tails.extend(given.iter().cloned());
    Ok(tails)
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
                    "{}: the object has no program `{}`",
                    tail.describe(),
                    tail.program
                )
            })?
            .try_into()
            .with_context(|| {
                format!(
                    "{}: `{}` is not an XDP program",
                    tail.describe(),
                    tail.program
                )
            })?;
        if program.fd().is_err() {
            program.load().with_context(|| {
                format!("the kernel refused tail-call program `{}`", tail.program)
            })?;
        }
        let fd = program.fd()?.try_clone()?;
        let map = ebpf.map_mut(&tail.map).with_context(|| {
            format!("{}: the object has no map `{}`", tail.describe(), tail.map)
        })?;
        let mut array = ProgramArray::try_from(map).with_context(|| {
            format!(
                "{}: map `{}` is not a PROG_ARRAY",
                tail.describe(),
                tail.map
            )
        })?;
        array.set(tail.index, &fd, 0).with_context(|| {
            format!(
                "{}: cannot set entry {} (the map's max_entries is its size; fd {})",
                tail.describe(),
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
    fn declared_slots_come_from_the_sidecar_and_given_ones_win() {
        let dir = std::env::temp_dir().join(format!("cxl-tails-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let object = dir.join("x_kern.o");
        assert!(with_declared_tails(&object, &[]).unwrap().is_empty());
        std::fs::write(
            object.with_extension("tails"),
            "jump 0 on_icmp\njump 2 on_udp\n",
        )
        .unwrap();
        let given = TailCall::parse("jump:2=other").unwrap();
        let tails = with_declared_tails(&object, std::slice::from_ref(&given)).unwrap();
        assert_eq!(tails.len(), 2, "{tails:?}");
        assert!(tails[0].declared && tails[0].program == "on_icmp" && tails[0].index == 0);
        assert_eq!(tails[1], given);
        assert!(tails[0].describe().contains("filled with `on_icmp` in C"));
        std::fs::write(object.with_extension("tails"), "jump zero on_icmp\n").unwrap();
        let error = with_declared_tails(&object, &[]).unwrap_err().to_string();
        assert!(error.contains("the index is not a number"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
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
