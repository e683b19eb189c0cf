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

#[cfg(test)]
mod tests {
    use super::Choice;
    use crate::frameworks::cargo_options::Isolation;
    use crate::ordering::Order;
    use crate::shard::Strategy;

    fn names_round_trip<T: Choice + std::fmt::Debug>() {
        for v in T::ALL {
            assert_eq!(T::from_name(v.name()), Some(*v));
            assert_eq!(
                T::from_name(&format!(" {} ", v.name().to_uppercase())),
                Some(*v)
            );
        }
        assert_eq!(T::from_name("no-such-value"), None);
    }

    #[test]
    fn every_value_is_found_by_its_name() {
        names_round_trip::<Order>();
        names_round_trip::<Strategy>();
        names_round_trip::<Isolation>();
    }
}
