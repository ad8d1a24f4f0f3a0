//! Detector settings: [`Config`] with its tuned defaults, the named [`Profile`]s, and
//! the range checks [`Detector::new`](super::Detector::new) runs.

/// Detector thresholds. Units are in the field names; `Default` gives the tuned values.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Weakest accepted tone, per tone, in dBm0. Default -36 (Q.24 asks for -25; rejects -55).
    pub min_level_dbm0: f32,
    /// Largest accepted level of the low group over the high group, dB. Default 12 (Q.24
    /// asks for 8; real lines reach 10).
    pub max_normal_twist_db: f32,
    /// Largest accepted level of the high group over the low group, dB. Default 10 (Q.24
    /// asks for 4; hand-dialled lines reach 8).
    pub max_reverse_twist_db: f32,
    /// Largest accepted frequency offset per tone, as a fraction. Default 0.025 (accept 1.5 %, reject 3.5 %).
    pub max_frequency_deviation: f32,
    /// Smallest share of the window's energy the tone pair must hold, 0 to 1. Default
    /// 0.75 (square-wave and clipped tones hold about 0.8; dial tone under a key more).
    pub min_pair_share: f32,
    /// How far the strongest tone of a group must stand above the others, dB. Default 8.
    pub min_relative_peak_db: f32,
    /// How far each tone's second harmonic must lie below the tone, dB. Default 15.
    pub min_harmonic_rejection_db: f32,
    /// Tone duration before a digit is reported, ms. Default 25.5 (Q.24 rejects 23 ms, accepts 40 ms).
    pub min_tone_ms: f32,
    /// Silence that ends a digit, ms; shorter dropouts are bridged. Default 28 (bridge 20 ms, split at 40 ms).
    pub release_ms: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_level_dbm0: -36.0,
            max_normal_twist_db: 12.0,
            max_reverse_twist_db: 10.0,
            max_frequency_deviation: 0.025,
            min_pair_share: 0.75,
            min_relative_peak_db: 8.0,
            min_harmonic_rejection_db: 15.0,
            min_tone_ms: 25.5,
            release_ms: 28.0,
        }
    }
}

/// A named set of detector settings, for where catching more keys must be weighed
/// against inventing digits from speech and music.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Tuned for real calls: twist to +10 / -12 dB, pair share 0.75; zero false digits
    /// on the talk-off corpus.
    #[default]
    Default,
    /// Closer to ITU-T Q.24's limits: twist to +6 / -10 dB, pair share 0.8.
    Strict,
    /// For noisy captures: pair share 0.45 and twist to +12 / -14 dB, so tones at 0 dB
    /// S/N and under speech or music are caught, at the cost of some false digits on
    /// speech and music (see the README's figures).
    Noisy,
}

impl Profile {
    /// Every profile, in the order the README lists them.
    pub const ALL: [Profile; 3] = [Profile::Default, Profile::Strict, Profile::Noisy];

    /// The profile's name as the CLI and the settings spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Strict => "strict",
            Profile::Noisy => "noisy",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown detector profile `{0}` (expected default, strict or noisy)")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

impl Config {
    /// The settings of `profile`.
    pub fn for_profile(profile: Profile) -> Config {
        let default = Config::default();
        match profile {
            Profile::Default => default,
            Profile::Strict => Config {
                max_normal_twist_db: 10.0,
                max_reverse_twist_db: 6.0,
                min_pair_share: 0.8,
                ..default
            },
            Profile::Noisy => Config {
                max_normal_twist_db: 14.0,
                max_reverse_twist_db: 12.0,
                min_pair_share: 0.45,
                ..default
            },
        }
    }
}

/// A configuration value outside its meaningful range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A field is out of range; names the field and its allowed range.
    #[error("detector setting {field} = {value} is out of range ({range})")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// The rejected value.
        value: f32,
        /// Allowed range, human-readable.
        range: &'static str,
    },
}

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, f32, f32, f32, &'static str); 9] = [
            (
                "min_level_dbm0",
                self.min_level_dbm0,
                -60.0,
                0.0,
                "-60 to 0",
            ),
            (
                "max_normal_twist_db",
                self.max_normal_twist_db,
                0.0,
                20.0,
                "0 to 20",
            ),
            (
                "max_reverse_twist_db",
                self.max_reverse_twist_db,
                0.0,
                20.0,
                "0 to 20",
            ),
            (
                "max_frequency_deviation",
                self.max_frequency_deviation,
                0.005,
                0.05,
                "0.005 to 0.05",
            ),
            ("min_pair_share", self.min_pair_share, 0.0, 1.0, "0 to 1"),
            (
                "min_relative_peak_db",
                self.min_relative_peak_db,
                0.0,
                30.0,
                "0 to 30",
            ),
            (
                "min_harmonic_rejection_db",
                self.min_harmonic_rejection_db,
                0.0,
                60.0,
                "0 to 60",
            ),
            ("min_tone_ms", self.min_tone_ms, 20.0, 60.0, "20 to 60"),
            ("release_ms", self.release_ms, 8.0, 60.0, "8 to 60"),
        ];
        for (field, value, low, high, range) in checks {
            if !(low..=high).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    field,
                    value,
                    range,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_passes_validation() {
        for profile in Profile::ALL {
            assert_eq!(Config::for_profile(profile).validate(), Ok(()), "{profile}");
        }
        assert_eq!(Config::for_profile(Profile::Default), Config::default());
    }

    #[test]
    fn an_out_of_range_setting_names_its_field_and_range() {
        let config = Config {
            release_ms: 5.0,
            ..Config::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(
            error,
            ConfigError::OutOfRange {
                field: "release_ms",
                value: 5.0,
                range: "8 to 60",
            }
        );
        assert_eq!(
            error.to_string(),
            "detector setting release_ms = 5 is out of range (8 to 60)"
        );
        let nan = Config {
            min_pair_share: f32::NAN,
            ..Config::default()
        };
        assert!(matches!(
            nan.validate(),
            Err(ConfigError::OutOfRange {
                field: "min_pair_share",
                ..
            })
        ));
    }

    #[test]
    fn profiles_parse_by_name_in_any_case() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse(), Ok(profile));
            assert_eq!(profile.name().to_uppercase().parse(), Ok(profile));
            assert_eq!(profile.to_string(), profile.name());
        }
        assert_eq!(
            "loud".parse::<Profile>(),
            Err(UnknownProfile("loud".to_string()))
        );
    }

    #[test]
    fn strict_accepts_less_and_noisy_more_than_the_default() {
        let [default, strict, noisy] = Profile::ALL.map(Config::for_profile);
        assert!(strict.max_reverse_twist_db < default.max_reverse_twist_db);
        assert!(strict.min_pair_share > default.min_pair_share);
        assert!(noisy.max_normal_twist_db > default.max_normal_twist_db);
        assert!(noisy.min_pair_share < default.min_pair_share);
    }
}
