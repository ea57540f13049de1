//! One CSV record at a time, read as Python's `csv` module reads it (excel dialect,
//! non-strict), for the claims splitter.

use super::{line_end, CSV_FIELD_LIMIT};

pub(super) enum CsvRow {
    /// A record: its fields' ranges in the output text (wanted fields only are copied; the
    /// others get empty ranges), the index after the record, the physical lines it took, and
    /// whether any field holds more than whitespace.
    Row(usize, u64, bool),
    Bad(String, usize, u64),
    NeedMore,
}

fn blank_byte(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b || (0x1c..=0x1f).contains(&c)
}

/// Parse one CSV record at `i` as Python's `csv` module (excel dialect, non-strict) does:
/// `"` opens a quoted field only at the start of a field, `""` inside quotes is a quote,
/// characters after a closing quote are kept, newlines inside quotes belong to the field.
/// Wanted fields (all when `wanted` is None) are appended to `text`, their ranges to `ranges`
/// (one per field); on `NeedMore` or `Bad` both are left as they were.
pub(super) fn csv_record(b: &[u8], i: usize, eof: bool, wanted: Option<&[usize; 3]>, text: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> CsvRow {
    let text_start = text.len();
    ranges.clear();
    let mut k = i;
    let mut lines = 0u64;
    // Python skips rows whose fields all strip to nothing; non-ASCII counts as content here.
    let mut content = false;
    let need_more = |text: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>| {
        text.truncate(text_start);
        ranges.clear();
        CsvRow::NeedMore
    };
    loop {
        let keep = wanted.is_none_or(|w| w.contains(&ranges.len()));
        let start = text.len();
        let mut len = 0usize;
        let take = |text: &mut Vec<u8>, piece: &[u8], len: &mut usize, content: &mut bool| {
            if keep {
                text.extend_from_slice(piece);
            }
            *len += piece.len();
            *content |= piece.iter().any(|&c| !blank_byte(c));
        };
        if k < b.len() && b[k] == b'"' {
            k += 1;
            loop {
                match b[k..].iter().position(|&c| c == b'"' || c == b'\n' || c == b'\r') {
                    None => {
                        if !eof {
                            return need_more(text, ranges);
                        }
                        take(text, &b[k..], &mut len, &mut content);
                        k = b.len();
                        // End of data inside quotes: Python keeps the field as it is.
                        ranges.push((start, text.len()));
                        return CsvRow::Row(k, lines + 1, content);
                    }
                    Some(r) => {
                        take(text, &b[k..k + r], &mut len, &mut content);
                        k += r;
                        if b[k] == b'"' {
                            if k + 1 >= b.len() && !eof {
                                return need_more(text, ranges);
                            }
                            if k + 1 < b.len() && b[k + 1] == b'"' {
                                take(text, b"\"", &mut len, &mut content);
                                k += 2;
                                continue;
                            }
                            k += 1; // the closing quote; what follows up to `,` is kept as is
                            break;
                        }
                        let (_, next, found) = line_end(b, k);
                        if !found && !eof {
                            return need_more(text, ranges);
                        }
                        take(text, &b[k..next], &mut len, &mut content);
                        lines += 1;
                        k = next;
                    }
                }
                if len > CSV_FIELD_LIMIT {
                    break;
                }
            }
        }
        let stop = if len > CSV_FIELD_LIMIT { None } else { b[k..].iter().position(|&c| c == b',' || c == b'\n' || c == b'\r') };
        match stop {
            _ if len > CSV_FIELD_LIMIT => {}
            None => {
                if !eof {
                    return need_more(text, ranges);
                }
                take(text, &b[k..], &mut len, &mut content);
                k = b.len();
                if len <= CSV_FIELD_LIMIT {
                    ranges.push((start, text.len()));
                    return CsvRow::Row(k, lines + u64::from(k > i), content);
                }
            }
            Some(r) => {
                take(text, &b[k..k + r], &mut len, &mut content);
                k += r;
                if len <= CSV_FIELD_LIMIT {
                    if b[k] == b',' {
                        ranges.push((start, text.len()));
                        k += 1;
                        continue;
                    }
                    let (_, next, found) = line_end(b, k);
                    if !found && !eof {
                        return need_more(text, ranges);
                    }
                    // An empty line is a record of no fields, as in Python.
                    if !(ranges.is_empty() && len == 0 && k == i) {
                        ranges.push((start, text.len()));
                    }
                    return CsvRow::Row(next, lines + 1, content);
                }
            }
        }
        // Python raises mid-line; the rest of that physical line goes with the error.
        let (_, next, found) = line_end(b, k.min(b.len()));
        if !found && !eof {
            return need_more(text, ranges);
        }
        text.truncate(text_start);
        ranges.clear();
        return CsvRow::Bad(format!("malformed CSV: field larger than field limit ({CSV_FIELD_LIMIT})"), next, lines + 1);
    }
}
