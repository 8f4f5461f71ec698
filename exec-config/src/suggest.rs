//! "Did you mean": the nearest of a set of valid names.

/// The candidate closest to `given`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'a, I>(given: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (given.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(given, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_field_and_nonsense_finds_none() {
        let fields = [
            "default_env",
            "default_work_dir",
            "command_whitelist",
            "kind",
            "name",
        ];
        assert_eq!(
            nearest("defualt_env", fields).as_deref(),
            Some("default_env")
        );
        assert_eq!(
            nearest("command_whitlist", fields).as_deref(),
            Some("command_whitelist")
        );
        assert_eq!(nearest("knd", fields).as_deref(), Some("kind"));
        assert_eq!(nearest("image", fields), None);
        assert_eq!(
            nearest("exec.nativ", ["exec.native", "exec.docker"]).as_deref(),
            Some("exec.native")
        );
    }
}
