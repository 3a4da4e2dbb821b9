//! File names for saved images: when, what, and which seed, safe on every OS.

/// Longest prompt slug kept in a file name, in characters.
const MAX_SLUG_CHARS: usize = 60;

/// `a-terrier-in-the-snow` from "A terrier, in the snow!". Only letters and
/// digits survive (any script), runs of anything else become one `-`, the
/// result is bounded, and names Windows reserves (`CON`, `NUL`, ...) are
/// avoided. An empty result becomes `untitled`.
fn prompt_slug(prompt: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in prompt.chars() {
        if c.is_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.extend(c.to_lowercase());
        } else {
            dash = true;
        }
        if slug.chars().count() >= MAX_SLUG_CHARS {
            break;
        }
    }
    let slug: String = slug.chars().take(MAX_SLUG_CHARS).collect();
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        return "untitled".into();
    }
    const RESERVED: &[&str] = &[
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    if RESERVED.contains(&slug.as_str()) {
        format!("{slug}-image")
    } else {
        slug
    }
}

/// `2026-11-23_21-04-05_<slug>_<seed>` (local time), without extension.
pub fn image_stem(prompt: &str, seed: u64, when: chrono::DateTime<chrono::Local>) -> String {
    format!(
        "{}_{}_{seed}",
        when.format("%Y-%m-%d_%H-%M-%S"),
        prompt_slug(prompt)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_bounded() {
        assert_eq!(
            prompt_slug("A terrier, in the snow!"),
            "a-terrier-in-the-snow"
        );
        assert_eq!(prompt_slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(prompt_slug("a\u{0}b\nc\\d:e"), "a-b-c-d-e");
        assert_eq!(prompt_slug("   "), "untitled");
        assert_eq!(prompt_slug("CON"), "con-image");
        assert_eq!(prompt_slug("猫が窓辺で眠る"), "猫が窓辺で眠る");
        let long = prompt_slug(&"word ".repeat(100));
        assert!(long.chars().count() <= MAX_SLUG_CHARS && !long.ends_with('-'));
    }

    #[test]
    fn stem_has_date_slug_and_seed() {
        use chrono::TimeZone;
        let when = chrono::Local
            .with_ymd_and_hms(2026, 11, 23, 21, 4, 5)
            .unwrap();
        assert_eq!(
            image_stem("a fox", 42, when),
            "2026-11-23_21-04-05_a-fox_42"
        );
    }
}
