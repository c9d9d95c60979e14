//! Which program of a kern object to attach: by name, by its (old)
//! section name, the template's default or the only one; and on an
//! interface without an Ethernet header, its raw-IP variant.

use std::{fs, path::Path};

use anyhow::{bail, Result};

/// `<object>.sections` beside a kern object whose legacy sections cargo xdp
/// build renamed to `xdp`: (old section, function) pairs.
pub(crate) fn renamed_sections(object: &Path) -> Vec<(String, String)> {
    fs::read_to_string(object.with_extension("sections"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (section, function) = line.split_once(' ')?;
            Some((section.to_string(), function.to_string()))
        })
        .collect()
}

/// What an interface's frames start with, from its link type (ARPHRD_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// An Ethernet header (Ethernet, Wi-Fi, veth, loopback's zeroed one).
    Ethernet,
    /// The IP header: cellular data (`rmnet_data*`, ARPHRD_RAWIP), tun
    /// (ARPHRD_NONE), IP-in-IP and SIT tunnels, GRE, PPP.
    RawIp,
}

/// The suffix of a program's raw-IP variant: `xdp_filter_rawip` is
/// `xdp_filter` for interfaces without an Ethernet header (AOSP ships its
/// XDP programs as RAWIP and ETHER variants the same way).
pub const RAWIP_SUFFIX: &str = "_rawip";

impl Link {
    pub fn from_arphrd(link_type: u16) -> Link {
        // ARPHRD_PPP, _TUNNEL, _TUNNEL6, _SIT, _IPGRE, _IP6GRE, _RAWIP, _NONE.
        match link_type {
            512 | 768 | 769 | 776 | 778 | 823 | 519 | 65534 => Link::RawIp,
            _ => Link::Ethernet,
        }
    }
}

/// The XDP program of `ebpf` to attach (see choose_program) on a `link`:
/// where the interface carries raw IP and the chosen program has a
/// `<name>_rawip` variant, the variant. Variants are never candidates of
/// their own (an object with `f` and `f_rawip` has one program to choose);
/// programs of other types in the same object (tc, kprobe ...) are never
/// candidates either, and naming one is an error that says what it is.
pub(crate) fn choose_xdp_program(
    ebpf: &aya::Ebpf,
    object: &Path,
    wanted: Option<&str>,
    default: Option<&str>,
    link: Link,
) -> Result<Chosen> {
    let sections = renamed_sections(object);
    let mut xdp = Vec::new();
    let mut others = Vec::new();
    for (name, program) in ebpf.programs() {
        match program {
            aya::programs::Program::Xdp(_) => xdp.push(name.to_string()),
            other => others.push((name.to_string(), other.prog_type())),
        }
    }
    if let Some(wanted) = wanted {
        let section_of = |function: &str| {
            sections
                .iter()
                .find(|(_, f)| f == function)
                .map(|(s, _)| s.clone())
        };
        let named = others
            .iter()
            .find(|(name, _)| name == wanted || section_of(name).as_deref() == Some(wanted));
        if let Some((name, kind)) = named {
            bail!(
                "program `{name}` (section `{}`) is a {kind:?} program, not XDP: cargo-xdp \
                 attaches XDP programs only; the object's XDP programs: {}",
                section_of(name).unwrap_or_else(|| "?".into()),
                xdp.join(", ")
            );
        }
    }
    let candidates = attach_candidates(&xdp, wanted);
    let xdp_sections: Vec<(String, String)> = sections
        .into_iter()
        .filter(|(_, function)| candidates.contains(function))
        .collect();
    let chosen = choose_program(&candidates, &xdp_sections, wanted, default)?;
    Ok(variant_for_link(&xdp, chosen, link))
}

/// The programs to choose from: every XDP program but the `_rawip`
/// variants of others, unless `wanted` names one.
fn attach_candidates(xdp: &[String], wanted: Option<&str>) -> Vec<String> {
    if wanted.is_some_and(|w| xdp.iter().any(|n| n == w)) {
        return xdp.to_vec();
    }
    xdp.iter()
        .filter(|name| {
            !name
                .strip_suffix(RAWIP_SUFFIX)
                .is_some_and(|base| xdp.iter().any(|n| n == base))
        })
        .cloned()
        .collect()
}

/// `chosen`, or its raw-IP variant where the link has no Ethernet header.
fn variant_for_link(xdp: &[String], chosen: String, link: Link) -> Chosen {
    if link == Link::Ethernet || chosen.ends_with(RAWIP_SUFFIX) {
        return Chosen {
            name: chosen,
            rawip_variant: false,
            unsure: false,
        };
    }
    let variant = format!("{chosen}{RAWIP_SUFFIX}");
    if xdp.contains(&variant) {
        Chosen {
            name: variant,
            rawip_variant: true,
            unsure: false,
        }
    } else {
        Chosen {
            name: chosen,
            rawip_variant: false,
            unsure: true,
        }
    }
}

/// The program choose_xdp_program picked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chosen {
    pub name: String,
    /// The raw-IP variant, for an interface without an Ethernet header.
    pub rawip_variant: bool,
    /// The interface carries raw IP and the program has no variant for it.
    pub unsure: bool,
}

/// The program to attach: by function name, else by the (old) section name.
pub(crate) fn choose_program(
    names: &[String],
    sections: &[(String, String)],
    wanted: Option<&str>,
    default: Option<&str>,
) -> Result<String> {
    let listed = names.join(", ");
    let in_section: Vec<&String> = sections
        .iter()
        .filter(|(section, _)| Some(section.as_str()) == wanted)
        .map(|(_, function)| function)
        .collect();
    // The template's default only where the object has it: a user's own
    // kern source with one program needs no --prog.
    let default = default.filter(|d| names.iter().any(|n| n == d));
    match wanted.or(default) {
        Some(name) if names.iter().any(|n| n == name) => Ok(name.to_string()),
        Some(_) if in_section.len() == 1 => Ok(in_section[0].clone()),
        Some(name) if in_section.len() > 1 => bail!(
            "section `{name}` has several programs ({}): choose one by name with --prog",
            in_section
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(name) => {
            bail!("no program `{name}` in the object; it has: {listed} (choose with --prog)")
        }
        None if names.len() == 1 => Ok(names[0].clone()),
        None if names.is_empty() => bail!("the object has no XDP program"),
        None => bail!("the object has several programs ({listed}): choose one with --prog"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ip_links_get_the_rawip_variant_and_variants_are_no_candidates() {
        assert_eq!(Link::from_arphrd(1), Link::Ethernet);
        for raw in [519, 65534, 768, 512] {
            assert_eq!(Link::from_arphrd(raw), Link::RawIp, "{raw}");
        }
        let xdp: Vec<String> = ["xdp_filter", "xdp_filter_rawip", "other"]
            .map(String::from)
            .to_vec();
        assert_eq!(attach_candidates(&xdp, None), ["xdp_filter", "other"]);
        assert_eq!(attach_candidates(&xdp, Some("xdp_filter_rawip")).len(), 3);
        let chosen = variant_for_link(&xdp, "xdp_filter".into(), Link::RawIp);
        assert!(chosen.rawip_variant && chosen.name == "xdp_filter_rawip");
        let chosen = variant_for_link(&xdp, "other".into(), Link::RawIp);
        assert!(chosen.unsure && chosen.name == "other");
        let chosen = variant_for_link(&xdp, "xdp_filter".into(), Link::Ethernet);
        assert!(!chosen.rawip_variant && !chosen.unsure && chosen.name == "xdp_filter");
    }
}
