//! Small text helpers shared by the parsers.

/// Decodes a text file: UTF-16 with a BOM, else UTF-8, falling back to
/// Windows-1252 (the usual encoding of French text files that are not
/// UTF-8). `None` when the bytes are binary (NUL bytes).
pub fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.contains(&0) {
        return None;
    }
    Some(match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    })
}

fn utf16(bytes: &[u8], f: fn([u8; 2]) -> u16) -> Option<String> {
    let units = bytes.chunks_exact(2).map(|c| f([c[0], c[1]]));
    let s: String = char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    (!s.contains('\0')).then_some(s)
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

/// Trims every line, collapses runs of spaces and of blank lines.
pub fn normalize_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let line: String = collapse_spaces(line.trim());
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&line);
    }
    out
}

fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        let space = c.is_whitespace();
        if space {
            if !prev_space {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        prev_space = space;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_latin1_fallback_and_bom() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFd\xc3\xa9j\xc3\xa0").unwrap(), "déjà");
        assert_eq!(decode_text(b"d\xe9j\xe0 \x80").unwrap(), "déjà €");
        assert_eq!(decode_text(b"\xFF\xFEd\x00\xe9\x00").unwrap(), "dé");
        assert_eq!(decode_text(b"\xFF\xFE\x00\x00"), None);
        assert_eq!(decode_text(b"ab\x00cd"), None);
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_whitespace("  a   b \n\n\n c\n d  "), "a b\n\nc\nd");
    }
}
