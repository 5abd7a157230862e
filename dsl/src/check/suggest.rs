//! "Did you mean …?" for misspelt names.

/// The candidate closest to `word`, when one is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = if candidate.eq_ignore_ascii_case(word) {
                0
            } else {
                strsim::damerau_levenshtein(word, candidate)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `Some("did you mean `x`?")` when a candidate is close to `word`.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|found| format!("did you mean `{found}`?"))
}

/// `a`, `a` and `b`, `a`, `b` and `c`: names quoted and joined for a message.
pub fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|name| format!("`{name}`")).collect();
    match names.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("hots", ["hosts", "metrics"]), Some("hosts"));
        assert_eq!(closest("sorce", ["source", "sink"]), Some("source"));
        assert_eq!(closest("zzz", ["hosts", "metrics"]), None);
        assert_eq!(closest("P99", ["p99"]), Some("p99"));
    }
}
