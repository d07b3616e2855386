//! The fast path for well-formed DPD answers: quick-xml's pull parser fills the same wire
//! structs as its serde deserializer, at about a third of the cost (no namespace
//! resolution, no per-element map of field names). It reads only the ordinary shape: an
//! envelope whose body holds `getTrackingDataResponse`, every `statusInfo` with one
//! `status` and one `statusHasBeenReached` of `true`/`false`. For anything else (a SOAP
//! fault, a missing or repeated field, text or markup where a field's text is not
//! expected, a malformed or repeated attribute, malformed XML...) it answers `None`, and
//! the serde deserializer reads the body again and words the error.

use super::{ContentItem, ContentLine, Envelope, StatusInfo};
use quick_xml::Reader;
use quick_xml::events::Event;

/// Where the reader is. Elements not named here are skipped with their content.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Envelope,
    Body,
    Response,
    Result,
    Info,
    /// `label`, `location` or `date` of a `statusInfo`, or a line of its `description`.
    Line(Line),
    Description,
    /// The text of a field.
    Text(Text),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    Label,
    Location,
    Date,
    Description,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    Status,
    Reached,
    Content(Line),
}

/// The `statusInfo` being read.
#[derive(Default)]
struct Info {
    status: Option<String>,
    reached: Option<bool>,
    label: Option<ContentLine>,
    description: Option<ContentItem>,
    location: Option<ContentLine>,
    date: Option<ContentLine>,
    /// The line being read (`content` is filled by its text).
    line: Option<ContentLine>,
}

/// The element `name` inside `parent`, if it is read.
fn child(parent: Node, name: &[u8]) -> Option<Node> {
    Some(match (parent, name) {
        (Node::Envelope, b"Body") => Node::Body,
        (Node::Body, b"getTrackingDataResponse") => Node::Response,
        (Node::Response, b"trackingresult") => Node::Result,
        (Node::Result, b"statusInfo") => Node::Info,
        (Node::Info, b"status") => Node::Text(Text::Status),
        (Node::Info, b"statusHasBeenReached") => Node::Text(Text::Reached),
        (Node::Info, b"label") => Node::Line(Line::Label),
        (Node::Info, b"location") => Node::Line(Line::Location),
        (Node::Info, b"date") => Node::Line(Line::Date),
        (Node::Info, b"description") => Node::Description,
        (Node::Description, b"content") => Node::Line(Line::Description),
        (Node::Line(line), b"content") => Node::Text(Text::Content(line)),
        _ => return None,
    })
}

/// Reads `text` as an ordinary DPD answer, or `None` (see the module documentation).
pub(super) fn read(text: &str) -> Option<Envelope> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<Node> = Vec::with_capacity(8);
    let mut skipped = 0usize;
    let mut seen_body = false;
    let mut seen_response = false;
    let mut seen_result = false;
    let mut infos = Vec::new();
    let mut info = Info::default();
    let mut buffer = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) => {
                if skipped > 0 {
                    skipped += 1;
                    continue;
                }
                let node = match path.last() {
                    None => Node::Envelope,
                    // Markup inside a text field: left to serde.
                    Some(Node::Text(_)) => return None,
                    Some(parent) => match child(*parent, element.local_name().as_ref()) {
                        Some(node) => node,
                        None if element.local_name().as_ref() == b"Fault" => return None,
                        None => {
                            skipped = 1;
                            continue;
                        }
                    },
                };
                // serde reads the attributes of every element it maps (and fails on a
                // malformed or repeated one); so does this reader, to accept no less.
                if !element.attributes_raw().is_empty() {
                    for attribute in element.attributes() {
                        attribute.ok()?;
                    }
                }
                match node {
                    Node::Body => first(&mut seen_body)?,
                    Node::Response => first(&mut seen_response)?,
                    Node::Result => first(&mut seen_result)?,
                    Node::Info => info = Info::default(),
                    Node::Line(_) => info.line = Some(ContentLine::default()),
                    Node::Description if info.description.is_some() => return None,
                    Node::Description => info.description = Some(ContentItem::default()),
                    Node::Text(_) => buffer.clear(),
                    Node::Envelope => {}
                }
                path.push(node);
            }
            Event::End(_) => {
                if skipped > 0 {
                    skipped -= 1;
                    continue;
                }
                match path.pop()? {
                    Node::Text(field) => finish_text(field, &mut info, &buffer)?,
                    Node::Line(line) => finish_line(line, &mut info)?,
                    Node::Info => infos.push(finish_info(std::mem::take(&mut info))?),
                    _ => {}
                }
            }
            Event::Text(text) if matches!(path.last(), Some(Node::Text(_))) && skipped == 0 => {
                buffer.push_str(&text.xml_content().ok()?);
            }
            // serde resolves every reference, in skipped elements too, and fails on one
            // that is no character or predefined entity.
            Event::GeneralRef(reference) => {
                let in_text = skipped == 0 && matches!(path.last(), Some(Node::Text(_)));
                if skipped == 0 && !in_text {
                    // A reference in a container: left to serde.
                    return None;
                }
                match reference.resolve_char_ref().ok()? {
                    Some(c) if in_text => buffer.push(c),
                    Some(_) => {}
                    None => {
                        let name = reference.decode().ok()?;
                        let text = quick_xml::escape::resolve_predefined_entity(&name)?;
                        if in_text {
                            buffer.push_str(text);
                        }
                    }
                }
            }
            Event::CData(data) if matches!(path.last(), Some(Node::Text(_))) && skipped == 0 => {
                buffer.push_str(std::str::from_utf8(&data).ok()?);
            }
            // Text in a container (serde fails on it, or reads it as a field): left to serde.
            Event::Text(text) if skipped == 0 && !blank(&text) => return None,
            Event::CData(_) if skipped == 0 => return None,
            // An empty field or container: rare, left to the serde reader.
            Event::Empty(element) if skipped == 0 => {
                let parent = path.last()?;
                if matches!(parent, Node::Text(_)) {
                    return None;
                }
                if child(*parent, element.local_name().as_ref()).is_some() {
                    return None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !(path.is_empty() && skipped == 0 && seen_body && seen_response && seen_result) {
        return None;
    }
    Some(Envelope::of_status_infos(infos))
}

/// Whether `text` is only XML whitespace: the indentation between elements, a third of a
/// DPD body. Checked without an early exit, which the compiler turns into vector code
/// (`Iterator::all` byte by byte cost 10 % of the whole read).
fn blank(text: &[u8]) -> bool {
    text.iter().fold(true, |blank, &b| {
        blank & matches!(b, b' ' | b'\n' | b'\r' | b'\t')
    })
}

/// Marks an element that may occur once; `None` the second time.
fn first(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

fn finish_text(field: Text, info: &mut Info, text: &str) -> Option<()> {
    match field {
        Text::Status if info.status.is_none() => info.status = Some(text.to_owned()),
        Text::Reached if info.reached.is_none() => {
            info.reached = Some(match text {
                "true" => true,
                "false" => false,
                _ => return None,
            });
        }
        Text::Content(_) => {
            let line = info.line.as_mut()?;
            if !line.content.is_empty() {
                return None;
            }
            line.content = text.to_owned();
        }
        _ => return None,
    }
    Some(())
}

fn finish_line(line: Line, info: &mut Info) -> Option<()> {
    let done = info.line.take()?;
    let slot = match line {
        Line::Description => {
            info.description.as_mut()?.content.push(done);
            return Some(());
        }
        Line::Label => &mut info.label,
        Line::Location => &mut info.location,
        Line::Date => &mut info.date,
    };
    if slot.is_some() {
        return None;
    }
    *slot = Some(done);
    Some(())
}

fn finish_info(info: Info) -> Option<StatusInfo> {
    Some(StatusInfo {
        status: info.status?,
        label: info.label,
        description: info.description,
        status_has_been_reached: info.reached?,
        location: info.location,
        date: info.date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_infos(text: &str) -> Option<Vec<StatusInfo>> {
        let envelope: Envelope = quick_xml::de::from_str(text).ok()?;
        Some(envelope.body.response?.trackingresult.status_info)
    }

    fn pull_infos(text: &str) -> Option<Vec<StatusInfo>> {
        Some(read(text)?.body.response?.trackingresult.status_info)
    }

    fn fixtures() -> Vec<(String, String)> {
        crate::carriers::fixture_bodies("dpd", "xml")
    }

    proptest::proptest! {
        /// The same for edited fixtures (most edits break the body, some leave odd but
        /// valid XML).
        #[test]
        fn the_pull_reader_reads_edited_fixtures_as_serde_does(
            body in crate::carriers::mutated_fixture("dpd", "xml")
        ) {
            if let Some(fast) = pull_infos(&body) {
                proptest::prop_assert_eq!(Some(fast), serde_infos(&body), "{}", body);
            }
        }
    }

    /// Odd variations of the documented samples: (replace, by).
    const VARIATIONS: [(&str, &str); 18] = [
        ("<status>", "<status>  \n "),
        (
            "DPD has received",
            "DPD &amp; co &#228;&#x00E4; have &lt;received&gt;",
        ),
        (
            "<content>Hamburg (DE)</content>",
            "<content><![CDATA[Hamburg]]> (DE)<!-- c --></content>",
        ),
        ("<bold>true</bold>", "<bold><status>x</status></bold>"),
        (
            "<description>",
            "<description><unknown><content>x</content></unknown>",
        ),
        ("<statusHasBeenReached>true", "<statusHasBeenReached>1"),
        ("<statusHasBeenReached>true", "<statusHasBeenReached> true "),
        ("<label>", "<label/><label>"),
        (
            "<status>Depot</status>",
            "<status>Depot</status><status>Courier</status>",
        ),
        ("</statusInfo>", "<description/></statusInfo>"),
        ("<date>", "<date><content>a</content>"),
        // Not valid, or not what serde reads as text: the pull reader must not accept
        // them (found by the edited-fixture property test).
        ("<soap:Envelope ", "<soap:Envelope x "),
        ("</statusInfo>", "</statusInfo>{"),
        (
            "<content>Hamburg (DE)</content>",
            "<content>Hamburg <b>(DE)</b></content>",
        ),
        (
            "<content>Hamburg (DE)</content>",
            "<content>Hamburg<br/> (DE)</content>",
        ),
        (
            "<status>Depot</status>",
            "<status a=\"1\" a=\"2\">Depot</status>",
        ),
        // References serde refuses, in an element neither reader maps.
        ("<paragraph>false", "<paragraph>&#0;false"),
        ("<paragraph>false", "<paragraph>&nbsp;false"),
    ];

    fn variations(text: &str) -> Vec<String> {
        VARIATIONS
            .iter()
            .map(|(from, to)| text.replace(from, to))
            .collect()
    }

    #[test]
    fn the_pull_reader_reads_what_serde_reads_or_leaves_it_to_serde() {
        for (name, text) in fixtures() {
            assert_eq!(
                pull_infos(&text).is_some(),
                serde_infos(&text).is_some(),
                "{name}: every fixture serde reads without a fault takes the fast path"
            );
            for (i, body) in std::iter::once(text.clone())
                .chain(variations(&text))
                .enumerate()
            {
                if let Some(fast) = pull_infos(&body) {
                    assert_eq!(Some(fast), serde_infos(&body), "{name}, variation {i}");
                }
            }
        }
    }

    #[test]
    fn faults_and_broken_bodies_are_left_to_serde() {
        let fault = r#"<soap:Envelope xmlns:soap="s"><soap:Body><soap:Fault>
            <faultstring>x</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        assert!(read(fault).is_none());
        let (_, sample) = fixtures()
            .into_iter()
            .find(|(name, _)| name.ends_with("/delivered.xml"))
            .expect("delivered.xml");
        assert!(read(&sample).is_some());
        assert!(read(&sample[..sample.len() / 2]).is_none(), "truncated");
        assert!(
            read(&sample.replace("<status>", "<Status>")).is_none(),
            "no status"
        );
        assert!(read(&sample.replace("trackingresult", "result")).is_none());
    }
}
