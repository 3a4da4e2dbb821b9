//! AUTOMATIC1111's "infotext": the `parameters` text that A1111, Forge and
//! Civitai write into and read from PNG files.
//!
//! ```text
//! a terrier in the snow
//! Negative prompt: blurry
//! Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15
//! ```
//!
//! The writer follows A1111's `create_infotext` (key order, values holding
//! `,` `:` or a newline JSON-quoted); the parser follows its
//! `parse_generation_parameters` (the last line holds parameters only with at
//! least 3 `key: value` pairs; `WxH` sizes; old names such as
//! "DPM++ 2M Karras" split into sampler + schedule).

use std::collections::BTreeMap;

/// One `key: value` pair of the parameters line, in order.
pub type Pair = (String, String);

/// A parsed infotext.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Infotext {
    /// The prompt (may span lines).
    pub prompt: String,
    /// The negative prompt (empty when absent).
    pub negative_prompt: String,
    /// The parameters line, unquoted, in the order written.
    pub params: Vec<Pair>,
}

impl Infotext {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All parameters as a map (last one wins, like A1111's dict).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.params.iter().cloned().collect()
    }
}

/// Write an infotext: prompt, `Negative prompt:` line when non-empty, then
/// the pairs joined by `", "` with values quoted where A1111 quotes them.
pub fn write(prompt: &str, negative_prompt: &str, params: &[Pair]) -> String {
    let mut out = prompt.to_string();
    if !negative_prompt.is_empty() {
        out.push_str("\nNegative prompt: ");
        out.push_str(negative_prompt);
    }
    let line: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}: {}", quote(v)))
        .collect();
    if !line.is_empty() {
        out.push('\n');
        out.push_str(&line.join(", "));
    }
    out
}

/// A1111's `quote`: JSON-encode a value that holds `,`, `:` or a newline.
pub fn quote(value: &str) -> String {
    if value.contains([',', ':', '\n']) {
        serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
    } else {
        value.to_string()
    }
}

/// Parse an infotext the way A1111 does. Never fails: text that is not an
/// infotext becomes a prompt with no parameters.
pub fn parse(text: &str) -> Infotext {
    let text = text.trim();
    let mut lines: Vec<&str> = text.split('\n').collect();
    let last = lines.pop().unwrap_or("");
    let pairs = find_pairs(last);
    let params_line = if pairs.len() >= 3 {
        pairs
    } else {
        lines.push(last);
        Vec::new()
    };
    let mut prompt = String::new();
    let mut negative = String::new();
    let mut in_negative = false;
    for line in lines {
        let mut line = line.trim();
        if let Some(rest) = line.strip_prefix("Negative prompt:") {
            in_negative = true;
            line = rest.trim();
        }
        let target = if in_negative {
            &mut negative
        } else {
            &mut prompt
        };
        if !target.is_empty() {
            target.push('\n');
        }
        target.push_str(line);
    }
    let params = params_line
        .into_iter()
        .map(|(k, v)| (k, unquote(&v)))
        .collect();
    Infotext {
        prompt,
        negative_prompt: negative,
        params,
    }
}

/// Split an A1111 `Size: 512x768` value.
pub fn parse_size(value: &str) -> Option<(u32, u32)> {
    let (w, h) = value.trim().split_once('x')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(w) || !digits(h) {
        return None;
    }
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(v) {
            return s;
        }
    }
    v.to_string()
}

/// All matches of A1111's `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`,
/// found left to right without overlap, by a hand-written scanner that runs
/// in linear time (a hostile line cannot make it quadratic, unlike a naive
/// backtracking search).
fn find_pairs(line: &str) -> Vec<Pair> {
    let chars: Vec<char> = line.chars().collect();
    let mut scanner = Scanner {
        chars: &chars,
        unclosed_from: None,
    };
    let mut pairs = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        match scanner.pair_at(pos) {
            Ok((key, value, end)) => {
                pairs.push((key, value));
                pos = end.max(pos + 1);
            }
            Err(next) => pos = next.max(pos + 1),
        }
    }
    pairs
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Scanner<'a> {
    chars: &'a [char],
    /// A quoted value opened at or after this position never closes (every
    /// later scan would reach the end the same way), so do not scan again.
    unclosed_from: Option<usize>,
}

impl Scanner<'_> {
    /// Match at `start`: `Ok((key, raw value, end))`, or `Err(next)` with the
    /// first position where a match could still begin (every start before it
    /// fails the same way).
    fn pair_at(&mut self, start: usize) -> Result<(String, String, usize), usize> {
        let chars = self.chars;
        let mut i = start;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || !is_word(chars[i]) {
            return Err(i + 1);
        }
        // Key: a word character, then at least one of word / space / '-' / '/'.
        // The class has no ':', so the colon must follow the greedy run.
        let key_start = i;
        let mut key_end = i + 1;
        while key_end < chars.len()
            && (is_word(chars[key_end]) || matches!(chars[key_end], ' ' | '-' | '/'))
        {
            key_end += 1;
        }
        if key_end - key_start < 2 || key_end >= chars.len() || chars[key_end] != ':' {
            return Err(key_end);
        }
        let key: String = chars[key_start..key_end].iter().collect();
        let mut j = key_end + 1;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if let Some(end) = self.quoted_value_end(j) {
            let value: String = chars[j..end].iter().collect();
            return Ok((key, value, (end + 1).min(chars.len())));
        }
        // Anything up to the next comma.
        let mut k = j;
        while k < chars.len() && chars[k] != ',' {
            k += 1;
        }
        let value: String = chars[j..k].iter().collect();
        Ok((key, value, (k + 1).min(chars.len())))
    }

    /// `"(?:\\.|[^\\"])+"` followed by `,` or the end, starting at `j`:
    /// the position just after the closing quote.
    fn quoted_value_end(&mut self, j: usize) -> Option<usize> {
        let chars = self.chars;
        if j >= chars.len() || chars[j] != '"' || self.unclosed_from.is_some_and(|u| u <= j) {
            return None;
        }
        let mut k = j + 1;
        while k < chars.len() {
            match chars[k] {
                '\\' if k + 1 < chars.len() => k += 2,
                '"' => break,
                _ => k += 1,
            }
        }
        if k >= chars.len() || chars[k] != '"' {
            self.unclosed_from = Some(j);
            return None;
        }
        let after = k + 1;
        let has_content = k > j + 1;
        (has_content && (after == chars.len() || chars[after] == ',')).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<Pair> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_a1111s_own_docstring_example() {
        let text = "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate\n\
Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing\n\
Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
        let info = parse(text);
        assert!(info.prompt.starts_with("girl with an artist's beret"));
        assert!(info.prompt.ends_with("detailed, intricate"));
        assert!(info.negative_prompt.starts_with("ugly, fat"));
        assert_eq!(
            info.params,
            pairs(&[
                ("Steps", "20"),
                ("Sampler", "Euler a"),
                ("CFG scale", "7"),
                ("Seed", "965400086"),
                ("Size", "512x512"),
                ("Model hash", "45dee52b"),
            ])
        );
        assert_eq!(parse_size(info.get("Size").unwrap()), Some((512, 512)));
    }

    #[test]
    fn quoted_values_round_trip() {
        let params = pairs(&[
            ("Steps", "20"),
            ("Sampler", "DPM++ 2M"),
            ("Schedule type", "Karras"),
            ("Model", "my, model: v2\nbeta \"x\""),
            ("Seed", "1"),
        ]);
        let text = write("a, b: c", "", &params);
        assert!(
            text.contains(r#"Model: "my, model: v2\nbeta \"x\"""#),
            "{text}"
        );
        let back = parse(&text);
        assert_eq!(back.prompt, "a, b: c");
        assert_eq!(back.negative_prompt, "");
        assert_eq!(back.params, params);
    }

    #[test]
    fn fewer_than_three_pairs_is_prompt_text() {
        let info = parse("a cat\nStyle: oil, Mood: calm");
        assert_eq!(info.prompt, "a cat\nStyle: oil, Mood: calm");
        assert!(info.params.is_empty());
        assert_eq!(parse("").prompt, "");
    }

    #[test]
    fn multi_line_prompts_and_negatives() {
        let text = write(
            "line one\nline two",
            "neg one\nneg two",
            &pairs(&[("Steps", "4"), ("Seed", "2"), ("CFG scale", "1")]),
        );
        let info = parse(&text);
        assert_eq!(info.prompt, "line one\nline two");
        assert_eq!(info.negative_prompt, "neg one\nneg two");
        assert_eq!(info.get("CFG scale"), Some("1"));
    }
}
