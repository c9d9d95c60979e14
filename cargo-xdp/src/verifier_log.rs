//! A refused program's verifier log, out of the way: the loader prints a
//! summary (error, instruction, source line, hint) and then the whole log
//! between markers; here the whole log goes to a file under
//! `target/xdp/verifier/` (named by its sha256, so the same log is one
//! file) and the text keeps the summary and the file's path.

use std::path::{Path, PathBuf};

use cargo_xdp_wire::{VERIFIER_LOG_END, VERIFIER_LOG_START};

/// Where the logs go in a project's target dir.
pub fn dir(target_dir: &Path) -> PathBuf {
    target_dir.join("xdp").join("verifier")
}

/// `text` without its marked log (what two refusals share when only
/// their logs' timings differ).
pub fn summary_of(text: &str) -> &str {
    text.split(VERIFIER_LOG_START).next().unwrap_or(text)
}

/// `text` with each marked log replaced by the path of a file in `dir`
/// holding it (or left in place, said so, when the file cannot be written).
pub fn condense(text: &str, dir: &Path) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(VERIFIER_LOG_START) {
        let after = &rest[start + VERIFIER_LOG_START.len()..];
        let Some(end) = after.find(VERIFIER_LOG_END) else {
            break;
        };
        let log = after[..end].trim_matches('\n');
        out.push_str(&rest[..start]);
        let lines = log.lines().count();
        match save(log, dir) {
            Ok(path) => out.push_str(&format!(
                "  the whole verifier log ({lines} lines): {}",
                path.display()
            )),
            Err(error) => out.push_str(&format!(
                "  (the verifier log could not be saved: {error})\n{log}"
            )),
        }
        rest = &after[end + VERIFIER_LOG_END.len()..];
    }
    out.push_str(rest);
    out
}

fn save(log: &str, dir: &Path) -> std::io::Result<PathBuf> {
    let sum = crate::hashing::sha256_hex(log.as_bytes());
    let path = dir.join(format!("verifier-{}.log", &sum[..16]));
    if !path.is_file() {
        std::fs::create_dir_all(dir)?;
        std::fs::write(&path, format!("{log}\n"))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_goes_to_one_file_and_the_summary_stays() {
        let dir = tempfile::tempdir().unwrap();
        let log = (0..3000)
            .map(|i| format!("{i}: (b7) r0 = 0\n"))
            .collect::<String>();
        let text = format!(
            "the kernel's verifier refused program `p` (x): R7 offset is outside of the packet\n  \
             hint: packet bounds\n{VERIFIER_LOG_START}\n{log}{VERIFIER_LOG_END}\n"
        );
        let once = condense(&text, dir.path());
        assert!(once.lines().count() <= 4, "{once}");
        assert!(
            once.contains("the whole verifier log (3000 lines): "),
            "{once}"
        );
        assert_eq!(
            condense(&text, dir.path()),
            once,
            "the same log, the same file"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(condense("no log here", dir.path()), "no log here");
    }
}
