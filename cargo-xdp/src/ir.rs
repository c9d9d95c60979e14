//! Rewrites of a kern source's LLVM IR (text) for what aya 0.14 refuses in
//! the object clang would make: legacy program sections renamed, AOSP's
//! `.maps.NAME` annotations moved to a section aya passes over, and the initial values of a
//! PROG_ARRAY filled in C moved out (the loader fills those slots). kern.rs
//! compiles the source to IR, applies these, and compiles the IR; clang
//! then writes the relocations, BTF and line info that match.

use crate::elf;

/// Where AOSP's map annotations go: a section aya 0.14 passes over (it
/// reads `.maps.NAME` as a map section and fails), so their BTF types (the
/// key and value of each legacy map) stay in the object for `map dump`.
pub const PARKED_ANNOTATIONS: &str = ".cargo_xdp.kv";

/// The globals placed in the `annotations` sections move to section
/// PARKED_ANNOTATIONS, still kept by the `llvm.used` lists.
pub fn park_in_ir(ir: &str, annotations: &[String]) -> String {
    if annotations.is_empty() {
        return ir.to_string();
    }
    ir.lines()
        .map(|line| {
            let section = annotations
                .iter()
                .map(|a| format!(" section \"{a}\""))
                .find(|section| line.starts_with('@') && line.contains(section.as_str()));
            match section {
                Some(section) => {
                    line.replacen(&section, &format!(" section \"{PARKED_ANNOTATIONS}\""), 1)
                }
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `define ... section "OLD"` becomes `section "NEW"` for each legacy
/// section: only function definitions, never maps or license.
pub fn rename_in_ir(ir: &str, legacy: &[(elf::ProgramSection, &str)]) -> String {
    ir.lines()
        .map(|line| {
            if !line.starts_with("define ") {
                return line.to_string();
            }
            let mut line = line.to_string();
            for (section, to) in legacy {
                let old = format!(
                    " section \"{}\"",
                    section.name.replace('\\', "\\5C").replace('"', "\\22")
                );
                line = line.replace(&old, &format!(" section \"{to}\""));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// One PROG_ARRAY slot filled in C: `.values = { [index] = &program }`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredTail {
    pub map: String,
    pub index: u32,
    pub program: String,
}

/// The maps in `.maps` whose initial values name functions (libbpf's
/// declarative PROG_ARRAY: `__array(values, int (void *))` with `.values =
/// { [I] = (void *)&prog }`) lose them: the map is zero-initialised, and its
/// debug type (the BTF the loader reads) has `value_size` (4: a program fd,
/// as libbpf makes it) where it had `values`, which aya 0.14 cannot read.
/// Returns the IR and the slots, for the loader to fill at attach.
pub fn move_prog_array_values(ir: &str) -> (String, Vec<DeclaredTail>) {
    let functions: Vec<&str> = ir
        .lines()
        .filter(|l| l.starts_with("define "))
        .filter_map(|l| l.split_once(" @").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('(').map(|(name, _)| name))
        .collect();
    let mut lines: Vec<String> = ir.lines().map(str::to_string).collect();
    let mut slots = Vec::new();
    let mut debug_vars = Vec::new();
    for line in lines.iter_mut() {
        if !line.starts_with('@') || !line.contains(" section \".maps\"") {
            continue;
        }
        let Some(global) = Global::parse(line) else {
            continue;
        };
        let Some(values) = prog_array_values(global.init, &functions) else {
            continue;
        };
        for (index, program) in values.into_iter().enumerate() {
            if let Some(program) = program {
                slots.push(DeclaredTail {
                    map: global.name.to_string(),
                    index: index as u32,
                    program,
                });
            }
        }
        if let Some(var) = global.debug {
            debug_vars.push(var.to_string());
        }
        *line = format!("{}zeroinitializer{}", global.before_init, global.after_init);
    }
    if slots.is_empty() {
        return (ir.to_string(), slots);
    }
    for var in debug_vars {
        values_member_to_value_size(&mut lines, &var);
    }
    (lines.join("\n") + "\n", slots)
}

/// `@NAME = ... global TYPE INIT, section ...`, in pieces.
struct Global<'a> {
    name: &'a str,
    before_init: &'a str,
    init: &'a str,
    after_init: &'a str,
    /// `!N` of `!dbg !N`.
    debug: Option<&'a str>,
}

impl<'a> Global<'a> {
    fn parse(line: &'a str) -> Option<Global<'a>> {
        let name = line[1..].split(' ').next()?;
        let type_at = line.find(" global ")? + " global ".len();
        let type_end = type_at + balanced_len(&line[type_at..])?;
        let init_at = type_end + 1;
        let init_len = balanced_len(&line[init_at..])?;
        let debug = line
            .rsplit_once("!dbg ")
            .map(|(_, id)| id.split([',', ' ']).next().unwrap_or(id));
        Some(Global {
            name,
            before_init: &line[..init_at],
            init: &line[init_at..init_at + init_len],
            after_init: &line[init_at + init_len..],
            debug,
        })
    }
}

/// The length of the bracketed group `text` starts with (`{...}`, `[...]`),
/// or of its first word.
fn balanced_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        match c {
            '{' | '[' | '(' | '<' => depth += 1,
            '}' | ']' | ')' | '>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            ' ' | ',' if depth == 0 => return Some(at),
            _ => {}
        }
    }
    (depth == 0).then_some(text.len())
}

/// `text` split at its top-level commas.
fn top_level_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut from) = (0usize, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' | '[' | '(' | '<' => depth += 1,
            '}' | ']' | ')' | '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(text[from..at].trim());
                from = at + 1;
            }
            _ => {}
        }
    }
    items.push(text[from..].trim());
    items
}

/// The last member of a struct initializer when it is an array of
/// functions and nulls (`[3 x ptr] [ptr @a, ptr null, ptr @b]`, or with
/// clang 14's typed pointers `bitcast (... @a to ...)`): each slot's
/// function, None for an empty one. None when anything else is there (a
/// map of maps filled with maps).
fn prog_array_values(init: &str, functions: &[&str]) -> Option<Vec<Option<String>>> {
    let inner = init.strip_prefix('{')?.strip_suffix('}')?;
    let last = *top_level_items(inner).last()?;
    let type_len = balanced_len(last)?;
    let values = last[type_len..].trim();
    let values = values.strip_prefix('[')?.strip_suffix(']')?;
    let mut slots = Vec::new();
    let mut any = false;
    for item in top_level_items(values) {
        match item.split_once('@') {
            Some((_, rest)) => {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
                    .collect();
                if !functions.contains(&name.as_str()) {
                    return None;
                }
                any = true;
                slots.push(Some(name));
            }
            None if item.ends_with("null") => slots.push(None),
            None => return None,
        }
    }
    any.then_some(slots)
}

/// The metadata line `id = ...`, by index.
fn find(lines: &[String], id: &str) -> Option<usize> {
    let prefix = format!("{id} = ");
    lines.iter().position(|l| l.starts_with(&prefix))
}

/// The value of `key: VALUE` in a metadata line.
fn field(line: &str, key: &str) -> Option<String> {
    let (_, rest) = line.split_once(&format!("{key}: "))?;
    Some(rest.split([',', ')']).next()?.trim().to_string())
}

/// The debug struct of a global: (its line, its elements' list id and
/// line, the member ids), from its `!DIGlobalVariableExpression`.
fn debug_struct(lines: &[String], expression: &str) -> Option<(usize, String, usize, Vec<String>)> {
    let var = field(&lines[find(lines, expression)?], "var")?;
    let ty = field(&lines[find(lines, &var)?], "type")?;
    let struct_at = find(lines, &ty)?;
    let elements = field(&lines[struct_at], "elements")?;
    let list_at = find(lines, &elements)?;
    let members = lines[list_at]
        .split_once("!{")
        .map(|(_, m)| m.trim_end_matches('}'))
        .unwrap_or("")
        .split(", ")
        .map(str::to_string)
        .collect();
    Some((struct_at, elements, list_at, members))
}

/// A new `int (*)[4]` (libbpf's `__uint(name, 4)`) at the end of the
/// metadata; its id.
fn pointer_to_int_array_of_four(lines: &mut Vec<String>) -> String {
    let mut next = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix('!')?
                .split_once(" = ")?
                .0
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
        + 1;
    let mut fresh = || {
        next += 1;
        format!("!{}", next - 1)
    };
    let int = match lines
        .iter()
        .find(|l| l.contains("!DIBasicType(name: \"int\", size: 32, encoding: DW_ATE_signed)"))
        .and_then(|l| l.split_once(" = "))
    {
        Some((id, _)) => id.to_string(),
        None => {
            let id = fresh();
            lines.push(format!(
                "{id} = !DIBasicType(name: \"int\", size: 32, encoding: DW_ATE_signed)"
            ));
            id
        }
    };
    let (pointer, array, list, range) = (fresh(), fresh(), fresh(), fresh());
    lines.push(format!(
        "{pointer} = !DIDerivedType(tag: DW_TAG_pointer_type, baseType: {array}, size: 64)"
    ));
    lines.push(format!(
        "{array} = !DICompositeType(tag: DW_TAG_array_type, baseType: {int}, size: 128, elements: {list})"
    ));
    lines.push(format!("{list} = !{{{range}}}"));
    lines.push(format!("{range} = !DISubrange(count: 4)"));
    pointer
}

/// In the debug type of the global whose `!DIGlobalVariableExpression` is
/// `expression`: the `values` member becomes `value_size`, a pointer to
/// `int[4]` (libbpf's `__uint(value_size, 4)`), inside the struct's size;
/// where the struct already has a `value_size`, `values` is dropped.
fn values_member_to_value_size(lines: &mut Vec<String>, expression: &str) {
    let Some((struct_at, elements, list_at, members)) = debug_struct(lines, expression) else {
        return;
    };
    let named = |lines: &[String], wanted: &str| {
        members
            .iter()
            .find(|m| {
                find(lines, m).is_some_and(|i| lines[i].contains(&format!("name: \"{wanted}\"")))
            })
            .cloned()
    };
    let Some(values) = named(lines, "values") else {
        return;
    };
    if named(lines, "value_size").is_some() {
        let kept: Vec<&str> = members
            .iter()
            .filter(|m| **m != values)
            .map(String::as_str)
            .collect();
        lines[list_at] = format!("{elements} = !{{{}}}", kept.join(", "));
        return;
    }
    let pointer = pointer_to_int_array_of_four(lines);
    let Some(member_at) = find(lines, &values) else {
        return;
    };
    let member = &lines[member_at];
    let offset: u64 = field(member, "offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let base = field(member, "baseType").unwrap_or_default();
    let mut rewritten = member
        .replace("name: \"values\"", "name: \"value_size\"")
        .replace(
            &format!("baseType: {base}"),
            &format!("baseType: {pointer}, size: 64"),
        );
    if !rewritten.contains("baseType:") {
        rewritten = rewritten.replacen(")", &format!(", baseType: {pointer}, size: 64)"), 1);
    }
    lines[member_at] = rewritten;
    let size: u64 = field(&lines[struct_at], "size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if size < offset + 64 {
        lines[struct_at] = lines[struct_at].replace(
            &format!("size: {size},"),
            &format!("size: {},", offset + 64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aosp_map_annotations_move_to_a_section_aya_passes_over() {
        let ir = "@m = dso_local constant %struct.bpf_map_def { i32 1 }, section \"maps\", align 4\n\
                  @____btf_map_m = dso_local global %struct.kv zeroinitializer, section \".maps.m\", align 8, !dbg !21\n\
                  @llvm.used = appending global [1 x ptr] [ptr @____btf_map_m], section \"llvm.metadata\"\n";
        let out = park_in_ir(ir, &[".maps.m".to_string()]);
        assert!(
            out.contains("@____btf_map_m = dso_local global %struct.kv zeroinitializer, section \".cargo_xdp.kv\", align 8"),
            "{out}"
        );
        assert!(!out.contains("\".maps.m\""), "{out}");
        assert!(
            out.contains("section \"maps\""),
            "the map itself stays: {out}"
        );
        assert!(out.contains("[ptr @____btf_map_m]"), "still kept: {out}");
        assert_eq!(park_in_ir(ir, &[]), ir, "nothing to move, nothing changed");
    }

    /// The IR clang 19 writes for libbpf's declarative PROG_ARRAY (cut to
    /// what matters), and clang 14's typed-pointer spelling of the same.
    const DECLARED: &str = "@by_protocol = dso_local global { ptr, ptr, ptr, [3 x ptr] } { ptr null, ptr null, ptr null, [3 x ptr] [ptr @on_icmp, ptr null, ptr @on_udp] }, section \".maps\", align 8, !dbg !0\n\
@plain = dso_local global { ptr, ptr } zeroinitializer, section \".maps\", align 8, !dbg !5\n\
define dso_local i32 @on_icmp(ptr nocapture readnone %0) #0 section \"xdp\" !dbg !90 {\n\
define dso_local i32 @on_udp(ptr nocapture readnone %0) #0 section \"xdp\" !dbg !91 {\n\
!0 = !DIGlobalVariableExpression(var: !1, expr: !DIExpression())\n\
!1 = distinct !DIGlobalVariable(name: \"by_protocol\", scope: !2, file: !64, line: 27, type: !69, isLocal: false, isDefinition: true)\n\
!69 = distinct !DICompositeType(tag: DW_TAG_structure_type, file: !64, line: 22, size: 192, elements: !70)\n\
!70 = !{!71, !77, !80, !81}\n\
!71 = !DIDerivedType(tag: DW_TAG_member, name: \"type\", scope: !69, file: !64, line: 23, baseType: !72, size: 64)\n\
!74 = !DIBasicType(name: \"int\", size: 32, encoding: DW_ATE_signed)\n\
!77 = !DIDerivedType(tag: DW_TAG_member, name: \"max_entries\", scope: !69, file: !64, line: 24, baseType: !78, size: 64, offset: 64)\n\
!80 = !DIDerivedType(tag: DW_TAG_member, name: \"key_size\", scope: !69, file: !64, line: 25, baseType: !78, size: 64, offset: 128)\n\
!81 = !DIDerivedType(tag: DW_TAG_member, name: \"values\", scope: !69, file: !64, line: 26, baseType: !82, offset: 192)\n\
!82 = !DICompositeType(tag: DW_TAG_array_type, baseType: !83, elements: !86)\n\
!91 = distinct !DISubprogram(name: \"on_udp\")\n";

    #[test]
    fn a_prog_array_filled_in_c_is_emptied_and_its_slots_returned() {
        let (out, slots) = move_prog_array_values(DECLARED);
        let slot = |index, program: &str| DeclaredTail {
            map: "by_protocol".into(),
            index,
            program: program.into(),
        };
        assert_eq!(slots, [slot(0, "on_icmp"), slot(2, "on_udp")]);
        assert!(out.contains("@by_protocol = dso_local global { ptr, ptr, ptr, [3 x ptr] } zeroinitializer, section \".maps\", align 8, !dbg !0\n"), "{out}");
        assert!(out.contains("!81 = !DIDerivedType(tag: DW_TAG_member, name: \"value_size\", scope: !69, file: !64, line: 26, baseType: !92, size: 64, offset: 192)"), "{out}");
        assert!(
            out.contains("!92 = !DIDerivedType(tag: DW_TAG_pointer_type, baseType: !93, size: 64)"),
            "{out}"
        );
        assert!(out.contains("!93 = !DICompositeType(tag: DW_TAG_array_type, baseType: !74, size: 128, elements: !94)"), "{out}");
        assert!(out.contains("!95 = !DISubrange(count: 4)"), "{out}");
        assert!(out.contains("size: 256, elements: !70"), "{out}");
        assert!(
            out.contains("@plain = dso_local global { ptr, ptr } zeroinitializer"),
            "{out}"
        );
    }

    #[test]
    fn clang_14s_typed_pointers_give_the_same_slots() {
        let ir = DECLARED.replace(
            "{ ptr null, ptr null, ptr null, [3 x ptr] [ptr @on_icmp, ptr null, ptr @on_udp] }",
            "{ [3 x i32]* null, [4 x i32]* null, [4 x i32]* null, [3 x i32 (i8*)*] [i32 (i8*)* bitcast (i32 (%struct.xdp_md*)* @on_icmp to i32 (i8*)*), i32 (i8*)* null, i32 (i8*)* bitcast (i32 (%struct.xdp_md*)* @on_udp to i32 (i8*)*)] }",
        );
        let (_, slots) = move_prog_array_values(&ir);
        assert_eq!(
            slots
                .iter()
                .map(|s| (s.index, s.program.as_str()))
                .collect::<Vec<_>>(),
            [(0, "on_icmp"), (2, "on_udp")]
        );
    }

    #[test]
    fn maps_filled_with_maps_and_plain_maps_are_left_alone() {
        let ir = DECLARED.replace("ptr @on_udp]", "ptr @inner_map]");
        let (out, slots) = move_prog_array_values(&ir);
        assert!(slots.is_empty());
        assert_eq!(out, ir);
        let plain = "@m = dso_local global { ptr, ptr } zeroinitializer, section \".maps\", align 8, !dbg !5\n";
        assert_eq!(move_prog_array_values(plain), (plain.to_string(), vec![]));
    }

    #[test]
    fn a_declared_value_size_stays_and_values_goes() {
        let ir = DECLARED.replace("!70 = !{!71, !77, !80, !81}", "!70 = !{!71, !77, !80, !81, !83}")
            + "!83 = !DIDerivedType(tag: DW_TAG_member, name: \"value_size\", scope: !69, baseType: !78, size: 64, offset: 192)\n";
        let (out, _) = move_prog_array_values(&ir);
        assert!(out.contains("!70 = !{!71, !77, !80, !83}"), "{out}");
    }
}
