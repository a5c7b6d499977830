//! Title search index terms (SPEC §5 #6). Titles are lower-cased (Unicode) and cut
//! into single characters and character pairs; a keyword of one character looks up
//! its single-character set, a longer one intersects the sets of its pairs. The
//! intersection holds only candidates that contain every pair, so the cost of a
//! search grows with its matches, not with the number of rooms; candidates are then
//! checked for the exact substring. Works for Chinese and any other script.

use std::collections::BTreeSet;

/// The index terms of a title: every character and every adjacent pair, lower-cased.
pub fn title_terms(title: &str) -> BTreeSet<String> {
    let chars: Vec<char> = title.to_lowercase().chars().collect();
    let mut terms: BTreeSet<String> = chars.iter().map(|c| c.to_string()).collect();
    terms.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
    terms
}

/// The terms whose sets must all contain a title that contains `keyword`
/// (already lower-cased): the keyword itself when it is one character, else its pairs.
pub fn keyword_terms(keyword_lower: &str) -> BTreeSet<String> {
    let chars: Vec<char> = keyword_lower.chars().collect();
    if chars.len() == 1 {
        return [keyword_lower.to_owned()].into();
    }
    chars
        .windows(2)
        .map(|w| w.iter().collect::<String>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_term_of_a_substring_is_a_title_term() {
        let title = "周末Live 音乐会";
        let terms = title_terms(title);
        for kw in ["音乐", "live", "周", "末l", "乐会", "e 音"] {
            assert!(keyword_terms(kw).is_subset(&terms), "{kw}");
        }
        assert!(!keyword_terms("音会").is_subset(&terms));
    }
}
