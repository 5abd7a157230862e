//! Cuts a file into its top-level blocks before parsing, so that one broken block does not hide
//! the errors of the others: a syntax error costs one block, not the file.
//!
//! A block starts on a line whose first character, in column 1, begins a word, when every bracket
//! opened before it is closed. A line that starts with a block keyword (`source `, `rollup `, …)
//! also starts a block when a bracket was left open: that is how an unclosed `{` is contained.

use std::ops::Range;

const BLOCK_KEYWORDS: [&str; 4] = ["source", "rollup", "alert", "sink"];

/// The byte ranges of the file's top-level items, covering every byte that is not a blank or
/// comment-only line before the first item.
pub fn chunks(text: &str) -> Vec<Range<usize>> {
    let mut starts = Vec::new();
    let mut depth: i64 = 0;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if starts_item(line) && (depth <= 0 || starts_with_block_keyword(line)) {
            starts.push(line_start);
            depth = 0;
        }
        depth += bracket_balance(line);
        line_start += line.len();
    }
    if starts.is_empty() && has_code(text) {
        starts.push(0);
    }
    let mut ranges: Vec<Range<usize>> = starts
        .windows(2)
        .map(|pair| pair[0]..pair[1])
        .chain(starts.last().map(|&start| start..text.len()))
        .collect();
    // Text before the first item belongs to it, so that nothing escapes the parser.
    if let Some(first) = ranges.first_mut()
        && has_code(&text[..first.start])
    {
        first.start = 0;
    }
    ranges
}

fn starts_item(line: &str) -> bool {
    line.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

fn starts_with_block_keyword(line: &str) -> bool {
    BLOCK_KEYWORDS.iter().any(|keyword| {
        line.strip_prefix(keyword)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

/// Opened minus closed brackets on one line, ignoring strings and comments.
fn bracket_balance(line: &str) -> i64 {
    classify(line)
        .map(|(c, class)| match (class, c) {
            (Class::Code, '{' | '[' | '(') => 1,
            (Class::Code, '}' | ']' | ')') => -1,
            _ => 0,
        })
        .sum()
}

fn has_code(text: &str) -> bool {
    text.lines()
        .any(|line| classify(line).any(|(c, class)| class == Class::Code && !c.is_whitespace()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Code,
    String,
    Comment,
}

/// The characters of one line, each with what it belongs to. String delimiters count as code.
fn classify(line: &str) -> impl Iterator<Item = (char, Class)> + '_ {
    let mut class = Class::Code;
    let mut escaped = false;
    line.chars().map(move |c| match class {
        Class::Comment => (c, Class::Comment),
        Class::String => {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                class = Class::Code;
                return (c, Class::Code);
            }
            (c, Class::String)
        }
        Class::Code => {
            match c {
                '"' => class = Class::String,
                '#' => class = Class::Comment,
                _ => {}
            }
            (
                c,
                if class == Class::Comment {
                    Class::Comment
                } else {
                    Class::Code
                },
            )
        }
    })
}

/// The byte offset of the innermost bracket left open at the end of `text`, if any.
pub fn unclosed_bracket(text: &str) -> Option<usize> {
    let mut open = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut offset = line_start;
        for (c, class) in classify(line) {
            match (class, c) {
                (Class::Code, '{' | '[' | '(') => open.push(offset),
                (Class::Code, '}' | ']' | ')') => {
                    open.pop();
                }
                _ => {}
            }
            offset += c.len_utf8();
        }
        line_start += line.len();
    }
    open.pop()
}

/// The `#` comments of a file with their byte ranges, trailing spaces left out.
pub fn comments(text: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut offset = 0;
        for (c, class) in classify(line) {
            if class == Class::Comment {
                found.push(line_start + offset..line_start + line.trim_end().len());
                break;
            }
            offset += c.len_utf8();
        }
        line_start += line.len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        chunks(text).into_iter().map(|range| &text[range]).collect()
    }

    #[test]
    fn each_block_is_one_chunk_and_leading_comments_go_with_nothing() {
        let text = "# head\n\nsource a from generator {\n  hosts = 1\n}\n\nsink b to console { from = a }\n";
        assert_eq!(
            texts(text),
            [
                "source a from generator {\n  hosts = 1\n}\n\n",
                "sink b to console { from = a }\n"
            ]
        );
    }

    #[test]
    fn an_unclosed_brace_is_contained_by_the_next_block_keyword() {
        let text = "source a from generator {\n  hosts = 1\nsink b to console { from = a }\n";
        assert_eq!(texts(text).len(), 2);
    }

    #[test]
    fn unindented_properties_stay_in_their_block() {
        let text = "source a from generator {\nhosts = 1\n}\n";
        assert_eq!(texts(text), [text]);
    }

    #[test]
    fn finds_the_innermost_unclosed_bracket() {
        assert_eq!(unclosed_bracket("a { b = [1, 2\n"), Some(8));
        assert_eq!(unclosed_bracket("a { b = \"{\" }"), None);
    }

    #[test]
    fn comments_skip_hashes_in_strings() {
        let text = "a = \"x # y\" # real\n# whole\n";
        let found: Vec<&str> = comments(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["# real", "# whole"]);
    }
}
