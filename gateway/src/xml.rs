//! S3 XML: a small writer for responses and strict parsers for the request bodies S3
//! clients send (CompleteMultipartUpload, Delete, CreateBucketConfiguration).

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::error::{GatewayError, Result};

pub const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry literally.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                o.push_str(&format!("&#x{:X};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// Append `<name>text</name>`.
pub fn el(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// A minimal element tree, enough for S3 request bodies.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Bodies above this size are refused before parsing.
pub const MAX_XML_BODY: usize = 2 * 1024 * 1024;

fn parse_tree(body: &[u8]) -> Result<Node> {
    if body.len() > MAX_XML_BODY {
        return Err(GatewayError::MalformedXml("body too large".into()));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| GatewayError::MalformedXml("not UTF-8".into()))?;
    let mut r = Reader::from_str(text);
    r.config_mut().trim_text(false);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match r.read_event() {
            Err(e) => return Err(GatewayError::MalformedXml(e.to_string())),
            Ok(Event::Start(e)) => {
                if stack.len() > 16 {
                    return Err(GatewayError::MalformedXml("nesting too deep".into()));
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Node {
                    name,
                    ..Default::default()
                });
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.last_mut().expect("root").children.push(Node {
                    name,
                    ..Default::default()
                });
            }
            Ok(Event::Text(t)) => {
                let s = t
                    .decode()
                    .map_err(|e| GatewayError::MalformedXml(e.to_string()))?;
                let s = quick_xml::escape::unescape(&s)
                    .map_err(|e| GatewayError::MalformedXml(e.to_string()))?;
                stack.last_mut().expect("root").text.push_str(&s);
            }
            Ok(Event::GeneralRef(e)) => {
                let name = e
                    .decode()
                    .map_err(|e| GatewayError::MalformedXml(e.to_string()))?;
                let entity = format!("&{name};");
                let s = quick_xml::escape::unescape(&entity)
                    .map_err(|e| GatewayError::MalformedXml(e.to_string()))?;
                stack.last_mut().expect("root").text.push_str(&s);
            }
            Ok(Event::CData(t)) => {
                stack
                    .last_mut()
                    .expect("root")
                    .text
                    .push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::End(_)) => {
                let n = stack.pop().expect("balanced");
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => return Err(GatewayError::MalformedXml("unbalanced".into())),
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err(GatewayError::MalformedXml("unclosed element".into()));
    }
    let mut root = stack.pop().expect("root");
    if root.children.len() != 1 {
        return Err(GatewayError::MalformedXml(
            "expected one root element".into(),
        ));
    }
    Ok(root.children.pop().expect("one"))
}

/// `<CompleteMultipartUpload>`: (part number, ETag without quotes) in document order.
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>> {
    let root = parse_tree(body)?;
    if root.name != "CompleteMultipartUpload" {
        return Err(GatewayError::MalformedXml(format!(
            "unexpected <{}>",
            root.name
        )));
    }
    let mut parts = Vec::new();
    for p in root.all("Part") {
        let n: u32 = p
            .child("PartNumber")
            .and_then(|n| n.text.trim().parse().ok())
            .ok_or_else(|| GatewayError::MalformedXml("Part without a valid PartNumber".into()))?;
        let etag = p
            .child("ETag")
            .map(|e| e.text.trim().trim_matches('"').to_string())
            .ok_or_else(|| GatewayError::MalformedXml("Part without ETag".into()))?;
        parts.push((n, etag));
    }
    if parts.is_empty() {
        return Err(GatewayError::MalformedXml("no parts".into()));
    }
    Ok(parts)
}

/// `<Delete>`: (quiet, keys).
pub fn parse_delete(body: &[u8]) -> Result<(bool, Vec<String>)> {
    let root = parse_tree(body)?;
    if root.name != "Delete" {
        return Err(GatewayError::MalformedXml(format!(
            "unexpected <{}>",
            root.name
        )));
    }
    let quiet = root
        .child("Quiet")
        .is_some_and(|q| q.text.trim().eq_ignore_ascii_case("true"));
    let keys: Vec<String> = root
        .all("Object")
        .map(|o| {
            o.child("Key")
                .map(|k| k.text.clone())
                .ok_or_else(|| GatewayError::MalformedXml("Object without Key".into()))
        })
        .collect::<Result<_>>()?;
    if keys.is_empty() || keys.len() > 1000 {
        return Err(GatewayError::MalformedXml(
            "1 to 1000 objects per request".into(),
        ));
    }
    Ok((quiet, keys))
}

/// `<CreateBucketConfiguration>`: checks the body is well-formed; returns the location.
pub fn parse_create_bucket(body: &[u8]) -> Result<Option<String>> {
    let root = parse_tree(body)?;
    if root.name != "CreateBucketConfiguration" {
        return Err(GatewayError::MalformedXml(format!(
            "unexpected <{}>",
            root.name
        )));
    }
    Ok(root.child("LocationConstraint").map(|l| l.text.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_multipart_body() {
        let b = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"abc"</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>2</PartNumber><ETag>&quot;def&quot;</ETag></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(b).unwrap(),
            vec![(1, "abc".to_string()), (2, "def".to_string())]
        );
    }

    #[test]
    fn delete_body_with_escaped_keys() {
        let b = b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b &lt;c&gt;</Key></Object><Object><Key>x</Key></Object></Delete>";
        let (q, keys) = parse_delete(b).unwrap();
        assert!(q);
        assert_eq!(keys, vec!["a&b <c>".to_string(), "x".to_string()]);
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        for b in [
            &b"<Delete><Object><Key>x</Key></Delete>"[..],
            b"<Delete>",
            b"not xml at all <",
            b"<Other/>",
            b"<Delete></Delete>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"\xff\xfe",
        ] {
            let r = parse_delete(b).map(|_| ());
            let c = parse_complete(b).map(|_| ());
            assert!(
                matches!(r, Err(GatewayError::MalformedXml(_))) || matches!(c, Err(GatewayError::MalformedXml(_))),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
        assert!(matches!(
            parse_complete(b"<Delete/>"),
            Err(GatewayError::MalformedXml(_))
        ));
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        el(&mut s, "Key", "a<b>&\"c\u{1}");
        assert_eq!(s, "<Key>a&lt;b&gt;&amp;&quot;c&#x1;</Key>");
    }
}
