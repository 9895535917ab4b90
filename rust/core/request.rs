//! What a client's upgrade request said, as the way in reads it and as a peer keeps it
//! for its whole life.

/// What an accepted upgrade request said.
#[derive(Debug)]
pub(crate) struct RequestInfo {
    /// Path and query as the client sent them, e.g. `/game?token=abc`.
    pub path: String,
    /// Every request header, names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The subprotocol selected ("" for none).
    pub protocol: String,
}

/// The headers of an upgrade request, in order, names as the client sent them. Kept as
/// one buffer for all the text and one for where each header is (two allocations whatever
/// the number of headers; a browser sends about fifteen).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Headers {
    text: Box<str>,
    /// Per header: where its name starts, where its value starts, where its value ends.
    spans: Box<[[u32; 3]]>,
}

impl Headers {
    /// Every header as (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(|&[name, value, end]| {
            let (name, value, end) = (name as usize, value as usize, end as usize);
            (&self.text[name..value], &self.text[value..end])
        })
    }

    /// The value of the first header called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl From<&[(String, String)]> for Headers {
    fn from(list: &[(String, String)]) -> Self {
        let mut text = String::with_capacity(list.iter().map(|(n, v)| n.len() + v.len()).sum());
        let mut spans = Vec::with_capacity(list.len());
        for (name, value) in list {
            let start = text.len() as u32;
            text.push_str(name);
            let middle = text.len() as u32;
            text.push_str(value);
            spans.push([start, middle, text.len() as u32]);
        }
        Headers {
            text: text.into_boxed_str(),
            spans: spans.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_case_and_repeats() {
        let list = [
            ("Host", "a:1"),
            ("X-Tag", ""),
            ("x-tag", "two"),
            ("Cookie", "c=1"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        let h = Headers::from(&list[..]);
        let back: Vec<(&str, &str)> = h.iter().collect();
        assert_eq!(
            back,
            [
                ("Host", "a:1"),
                ("X-Tag", ""),
                ("x-tag", "two"),
                ("Cookie", "c=1")
            ]
        );
        assert_eq!(h.get("HOST"), Some("a:1"));
        assert_eq!(h.get("x-tag"), Some(""));
        assert_eq!(h.get("origin"), None);
        assert_eq!(h.len(), 4);
        assert!(Headers::default().is_empty());
    }
}
