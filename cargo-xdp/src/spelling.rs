//! Did-you-mean: the spelling a near miss was meant to be, by cargo's rule.

/// What a near miss was meant to be: among `(spelling, meaning)` pairs,
/// the meaning of the spelling closest to `given`, if it is close enough
/// to be a typo (cargo's rule: an edit distance of at most a third of the
/// length, and at least 1).
pub fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|(spelling, meaning)| (strsim::levenshtein(given, spelling), meaning))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, meaning)| meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_word_and_nonsense_nothing() {
        let words = [
            ("android-arm64", "android-arm64"),
            ("linux-x86_64", "linux-x86_64"),
        ];
        assert_eq!(closest("andriod-arm64", words), Some("android-arm64"));
        assert_eq!(closest("sparc", words), None);
    }
}
