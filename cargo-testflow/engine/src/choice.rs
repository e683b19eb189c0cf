//! Closed vocabularies the doors offer as option values (`--order`, `--isolation`,
//! `--shard-strategy`): each names its values and says what they mean, so the command
//! line builds its choices and their help from the engine without the engine knowing
//! about any argument parser.

/// A small closed set of values, each with a name and, optionally, a line of help.
pub trait Choice: Copy + PartialEq + 'static {
    /// Every value, in the order help lists them.
    const ALL: &'static [Self];
    /// The name users type and files store.
    fn name(self) -> &'static str;
    /// What the value means, for `--help`.
    fn help(self) -> Option<&'static str> {
        None
    }
    /// The value named `s` (ASCII case ignored, surrounding space trimmed).
    fn from_name(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name().eq_ignore_ascii_case(s))
    }
}

/// Every value of `T` is found by its name, in any case and with spaces around, and a
/// name of none is not (each vocabulary's tests call it).
#[cfg(test)]
pub(crate) fn assert_names_round_trip<T: Choice + std::fmt::Debug>() {
    for v in T::ALL {
        assert_eq!(T::from_name(v.name()), Some(*v));
        assert_eq!(
            T::from_name(&format!(" {} ", v.name().to_uppercase())),
            Some(*v)
        );
    }
    assert_eq!(T::from_name("no-such-value"), None);
}
