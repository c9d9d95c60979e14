//! The loader's answers, defined once for both sides of the wire.
//!
//! A generated loader (through `cargo-xdp-loader`) prints these as one JSON
//! object per line; cargo-xdp reads them, here or from a phone's adb shell.
//! The writing side has no dependencies (`Display` writes the JSON, so a
//! loader on a phone carries no serializer); the reading side turns on the
//! `serde` feature. `tests` below read back what `Display` writes.

use std::fmt;

pub mod check;
pub mod interface;
pub mod trace;
pub mod variants;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// A refused program's whole verifier log comes between these lines, after
/// a summary; cargo-xdp puts it in a file and prints the file's path.
pub const VERIFIER_LOG_START: &str = "--- verifier log ---";
pub const VERIFIER_LOG_END: &str = "--- end of verifier log ---";

/// Packets and bytes one XDP action saw, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// The `xdp_stats` counters, one per XDP action (`stats --json`, and a
/// case's answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Counters {
    pub aborted: Counter,
    pub drop: Counter,
    pub pass: Counter,
    pub tx: Counter,
    pub redirect: Counter,
}

impl Counters {
    /// The actions in XDP's order (`XDP_ABORTED` = 0 ... `XDP_REDIRECT` = 4).
    pub const ACTIONS: [&'static str; 5] = ["aborted", "drop", "pass", "tx", "redirect"];

    /// From counters in XDP's action order.
    pub fn from_actions(counters: [Counter; 5]) -> Counters {
        let [aborted, drop, pass, tx, redirect] = counters;
        Counters {
            aborted,
            drop,
            pass,
            tx,
            redirect,
        }
    }

    /// In XDP's action order, beside their names.
    pub fn by_action(&self) -> [(&'static str, Counter); 5] {
        let all = [self.aborted, self.drop, self.pass, self.tx, self.redirect];
        std::array::from_fn(|i| (Self::ACTIONS[i], all[i]))
    }

    /// One action's counter by its name (`drop`), or None for no such action.
    pub fn get(&self, action: &str) -> Option<Counter> {
        self.by_action()
            .into_iter()
            .find(|(name, _)| *name == action)
            .map(|(_, c)| c)
    }
}

/// One interface the project is attached to (`status --json`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Attachment {
    pub interface: String,
    /// native, skb, ...; or, when the kernel does not run the pinned
    /// program there: "gone" (no such interface now), "replaced" (it runs
    /// another program) or "stale" (it runs nothing).
    pub mode: String,
    pub program: String,
    pub program_id: u32,
    /// The kernel runs this program on the interface now. Loaders before
    /// 0.1 did not say; `is_running` reads their mode instead.
    #[cfg_attr(feature = "serde", serde(default))]
    pub running: Option<bool>,
    /// The kernel variant the program is (`"5.2"`: the object built for
    /// kernels from 5.2 on, see [`variants`]); None for the base object, or
    /// a loader before 0.1.1.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub variant: Option<String>,
}

impl Attachment {
    /// The modes a loader reports for a pin the kernel does not run.
    pub const NOT_RUNNING_MODES: [&'static str; 3] = ["gone", "replaced", "stale"];

    pub fn is_running(&self) -> bool {
        self.running
            .unwrap_or(!Self::NOT_RUNNING_MODES.contains(&self.mode.as_str()))
    }
}

/// What `status --json` answers: the project and where it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Status {
    pub name: String,
    pub attached: Vec<Attachment>,
}

/// Bytes on the wire as lowercase hex text (keys, values, packets).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// `text` as bytes: pairs of hex digits, either case; None otherwise.
    pub fn parse(text: &str) -> Option<Hex> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(Hex)
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

#[cfg(feature = "serde")]
impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Hex, D::Error> {
        let text = String::deserialize(deserializer)?;
        Hex::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not hex: {text:?}")))
    }
}

/// One map entry (`map dump --json`, a case's `maps`): one value per CPU
/// for per-CPU maps, else one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct MapEntry {
    pub key: Hex,
    pub values: Vec<Hex>,
}

/// What `test-run` answers for one packet-test case, a line each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum CaseAnswer {
    Ran(CaseRun),
    /// The case could not run (the kernel refused the program, a map
    /// write failed ...).
    Failed {
        case: String,
        error: String,
    },
    /// The case was not run: its object is a kernel variant for a newer
    /// kernel than the one asked (`skipped` says which).
    Skipped {
        case: String,
        skipped: String,
    },
}

/// The name a case runs under on kernel variant `kernel` of its object:
/// `drops_dns [kernel 5.2+]`.
pub fn variant_case_name(case: &str, kernel: variants::KernelVersion) -> String {
    format!("{case} [kernel {kernel}+]")
}

impl CaseAnswer {
    pub fn case(&self) -> &str {
        match self {
            CaseAnswer::Ran(run) => &run.case,
            CaseAnswer::Failed { case, .. } | CaseAnswer::Skipped { case, .. } => case,
        }
    }
}

/// A case that ran: the program's verdict on its last packet, the packet as
/// the program left it, and what the counters and maps then held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct CaseRun {
    pub case: String,
    /// The program section that ran.
    pub program: String,
    /// The XDP action of the last packet.
    pub action: u32,
    /// The action of each packet, in order.
    pub actions: Vec<u32>,
    pub packet: Hex,
    /// Nanoseconds per run of the last packet, as the kernel timed it
    /// (its mean, rounded down to whole nanoseconds).
    pub ns: u64,
    /// The same in picoseconds, from this thread's CPU time less the call's
    /// own cost, when the case ran more than twice (0 otherwise, and from
    /// loaders before it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub cpu_ps: u64,
    /// None: the object has no `xdp_stats` map.
    pub counters: Option<Counters>,
    /// The maps the case asked for, by name (a JSON object on the wire;
    /// a list here, so the loader carries no map type for it).
    #[cfg_attr(feature = "serde", serde(with = "named"))]
    pub maps: Vec<(String, Vec<MapEntry>)>,
}

impl CaseRun {
    /// The entries of map `name`, when the case asked for it.
    pub fn map(&self, name: &str) -> Option<&[MapEntry]> {
        self.maps
            .iter()
            .find(|(map, _)| map == name)
            .map(|(_, entries)| entries.as_slice())
    }
}

/// `[(name, entries)]` as the JSON object `{"name": entries}`.
#[cfg(feature = "serde")]
mod named {
    use super::MapEntry;
    use serde::{ser::SerializeMap, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        maps: &[(String, Vec<MapEntry>)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_map(Some(maps.len()))?;
        for (name, entries) in maps {
            object.serialize_entry(name, entries)?;
        }
        object.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, Vec<MapEntry>)>, D::Error> {
        let object =
            std::collections::BTreeMap::<String, Vec<MapEntry>>::deserialize(deserializer)?;
        Ok(object.into_iter().collect())
    }
}

// The writing side: JSON by hand, in the field order serde reads and writes.

struct Text<'a>(&'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// `items` as a JSON array.
fn list<T>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut fmt::Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    f.write_str("[")?;
    for (i, each) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        item(f, each)?;
    }
    f.write_str("]")
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"packets":{},"bytes":{}}}"#,
            self.packets, self.bytes
        )
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (action, counter)) in self.by_action().into_iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(f, r#"{comma}"{action}":{counter}"#)?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"interface":{},"mode":{},"program":{},"program_id":{},"running":{}"#,
            Text(&self.interface),
            Text(&self.mode),
            Text(&self.program),
            self.program_id,
            self.is_running()
        )?;
        if let Some(variant) = &self.variant {
            write!(f, r#","variant":{}"#, Text(variant))?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r#"{{"name":{},"attached":"#, Text(&self.name))?;
        list(f, &self.attached, |f, a| write!(f, "{a}"))?;
        f.write_str("}")
    }
}

impl fmt::Display for MapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r#"{{"key":"{}","values":"#, self.key)?;
        list(f, &self.values, |f, v| write!(f, "\"{v}\""))?;
        f.write_str("}")
    }
}

/// Map entries as a JSON array (`map dump --json`).
pub struct Entries<'a>(pub &'a [MapEntry]);

impl fmt::Display for Entries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        list(f, self.0, |f, e| write!(f, "{e}"))
    }
}

impl fmt::Display for CaseRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"case":{},"program":{},"action":{},"actions":"#,
            Text(&self.case),
            Text(&self.program),
            self.action
        )?;
        list(f, &self.actions, |f, a| write!(f, "{a}"))?;
        write!(
            f,
            r#","packet":"{}","ns":{},"cpu_ps":{},"counters":"#,
            self.packet, self.ns, self.cpu_ps
        )?;
        match &self.counters {
            Some(counters) => write!(f, "{counters}")?,
            None => f.write_str("null")?,
        }
        f.write_str(r#","maps":{"#)?;
        for (i, (map, entries)) in self.maps.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(f, "{comma}{}:{}", Text(map), Entries(entries))?;
        }
        f.write_str("}}")
    }
}

impl fmt::Display for CaseAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseAnswer::Ran(run) => write!(f, "{run}"),
            CaseAnswer::Failed { case, error } => {
                write!(f, r#"{{"case":{},"error":{}}}"#, Text(case), Text(error))
            }
            CaseAnswer::Skipped { case, skipped } => {
                write!(
                    f,
                    r#"{{"case":{},"skipped":{}}}"#,
                    Text(case),
                    Text(skipped)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> Counters {
        let mut all = [Counter::default(); 5];
        all[1] = Counter {
            packets: 3,
            bytes: 180,
        };
        Counters::from_actions(all)
    }

    fn ran() -> CaseAnswer {
        CaseAnswer::Ran(CaseRun {
            case: "drops \"mdns\"\n".into(),
            program: "xdp_prog".into(),
            action: 1,
            actions: vec![2, 1],
            packet: Hex(vec![0, 0xab]),
            ns: 41,
            cpu_ps: 41_250,
            counters: Some(counters()),
            maps: vec![(
                "seen".to_string(),
                vec![MapEntry {
                    key: Hex(vec![0x14, 0xe9]),
                    values: vec![Hex(vec![1, 0, 0, 0]), Hex(vec![2, 0, 0, 0])],
                }],
            )],
        })
    }

    #[test]
    fn writes_the_json_the_tool_has_always_read() {
        assert_eq!(
            ran().to_string(),
            concat!(
                r#"{"case":"drops \"mdns\"\n","program":"xdp_prog","action":1,"actions":[2,1],"#,
                r#""packet":"00ab","ns":41,"cpu_ps":41250,"counters":{"aborted":{"packets":0,"bytes":0},"#,
                r#""drop":{"packets":3,"bytes":180},"pass":{"packets":0,"bytes":0},"#,
                r#""tx":{"packets":0,"bytes":0},"redirect":{"packets":0,"bytes":0}},"#,
                r#""maps":{"seen":[{"key":"14e9","values":["01000000","02000000"]}]}}"#
            )
        );
        let failed = CaseAnswer::Failed {
            case: "c".into(),
            error: "refused\u{1}".into(),
        };
        assert_eq!(
            failed.to_string(),
            r#"{"case":"c","error":"refused\u0001"}"#
        );
    }

    #[test]
    fn hex_reads_what_it_writes_and_refuses_the_rest() {
        assert_eq!(Hex::parse("00aBff"), Some(Hex(vec![0, 0xab, 0xff])));
        assert_eq!(Hex(vec![0, 0xab]).to_string(), "00ab");
        for bad in ["0", "zz", "0g", "é0"] {
            assert_eq!(Hex::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn older_loaders_running_is_read_from_their_mode() {
        let mut a = Attachment {
            interface: "wlan0".into(),
            mode: "stale".into(),
            program: "p".into(),
            program_id: 7,
            running: None,
            variant: None,
        };
        assert!(!a.is_running());
        a.mode = "native".into();
        assert!(a.is_running());
        a.running = Some(false);
        assert!(!a.is_running());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_back_what_display_writes() {
        fn round_trip<T>(value: &T)
        where
            T: fmt::Display + fmt::Debug + PartialEq + serde::de::DeserializeOwned + Serialize,
        {
            let written = value.to_string();
            let read: T = serde_json::from_str(&written).expect(&written);
            assert_eq!(&read, value);
            assert_eq!(
                serde_json::to_string(&read).unwrap(),
                written,
                "serde writes it alike"
            );
        }
        round_trip(&ran());
        round_trip(&CaseAnswer::Failed {
            case: "c".into(),
            error: "e\"".into(),
        });
        round_trip(&CaseAnswer::Skipped {
            case: "c [kernel 5.2+]".into(),
            skipped: "needs kernel 5.2, this is 4.14".into(),
        });
        let mut no_counters = ran();
        if let CaseAnswer::Ran(run) = &mut no_counters {
            run.counters = None;
            run.maps.clear();
        }
        round_trip(&no_counters);
        round_trip(&counters());
        round_trip(&Status {
            name: "nomdns".into(),
            attached: vec![
                Attachment {
                    interface: "wlan0".into(),
                    mode: "native (no pin)".into(),
                    program: "xdp_prog".into(),
                    program_id: 7,
                    running: Some(true),
                    variant: None,
                },
                Attachment {
                    interface: "eth0".into(),
                    mode: "skb".into(),
                    program: "xdp_prog".into(),
                    program_id: 8,
                    running: Some(true),
                    variant: Some("5.2".into()),
                },
            ],
        });
        let old: Status = serde_json::from_str(
            r#"{"name":"n","attached":[{"interface":"e","mode":"gone","program":"p","program_id":1}]}"#,
        )
        .unwrap();
        assert!(!old.attached[0].is_running());
    }
}
