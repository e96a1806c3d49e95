//! The signer certificate's subject as Windows compares it with a package's Publisher:
//! `CertNameToStr(X509_ASN_ENCODING, subject, CERT_X500_NAME_STR | CERT_NAME_STR_REVERSE_FLAG)`.
//! The relative distinguished names come last first, separated by `", "` (the values of a
//! multi-valued one by `" + "`), each as `KEY=value` with the X.500 short keys (`S` for
//! stateOrProvinceName, not `ST`; `OID.1.2.3` for others), and a value is quoted (`"…"`,
//! inner quotes doubled) when it is empty, starts or ends with a space, or holds one of
//! `, + = " \n < > # ;`. The comparison is exact: case and spaces count ("How to sign an app
//! package using SignTool", event 150).

use der::Tagged;
use x509_cert::name::Name;

/// The short key CertNameToStr writes for an attribute type, if it has one.
fn key(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "S",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "T",
        "2.5.4.42" => "G",
        "2.5.4.43" => "I",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

/// The universal tag number of the string types a name may hold (0 for others).
fn tag_byte(tag: der::Tag) -> u8 {
    use der::Tag;
    match tag {
        Tag::Utf8String => 0x0c,
        Tag::NumericString => 0x12,
        Tag::PrintableString => 0x13,
        Tag::TeletexString => 0x14,
        Tag::Ia5String => 0x16,
        Tag::VisibleString => 0x1a,
        Tag::BmpString => 0x1e,
        _ => 0,
    }
}

/// The text of a DirectoryString (or IA5String) value; `None` for other types.
fn value_text(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => String::from_utf8(bytes.to_vec()).ok(),
        // TeletexString: read as Latin-1
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| {
                    u16::from_be_bytes([
                        c.first().copied().unwrap_or(0),
                        c.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        0x1c => bytes
            .chunks(4)
            .map(|c| {
                let mut a = [0u8; 4];
                for (d, s) in a.iter_mut().zip(c) {
                    *d = *s;
                }
                char::from_u32(u32::from_be_bytes(a))
            })
            .collect(),
        _ => None,
    }
}

fn quoted(value: &str) -> String {
    let needs = value.is_empty()
        || value.starts_with(' ')
        || value.ends_with(' ')
        || value
            .chars()
            .any(|c| matches!(c, ',' | '+' | '=' | '"' | '\n' | '<' | '>' | '#' | ';'));
    if needs {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// `name` rendered as Windows renders a signer for the Publisher comparison.
pub fn windows_name(name: &Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.oid.to_string();
                    let k = key(&oid).map_or_else(|| format!("OID.{oid}"), str::to_string);
                    let v = value_text(tag_byte(atv.value.tag()), atv.value.value())
                        .unwrap_or_else(|| format!("#{}", hex::encode(atv.value.value())));
                    format!("{k}={}", quoted(&v))
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rendered_last_rdn_first_with_windows_keys() {
        // RFC 4514 strings list the last RDN first too: this DER is C, S, L, O, CN.
        let name = Name::from_str("CN=Contoso Ltd,O=Contoso,L=Redmond,ST=Washington,C=US").unwrap();
        assert_eq!(
            windows_name(&name),
            "CN=Contoso Ltd, O=Contoso, L=Redmond, S=Washington, C=US"
        );
        let name = Name::from_str("CN=Jsign Code Signing Test Certificate 2024 (RSA)").unwrap();
        assert_eq!(
            windows_name(&name),
            "CN=Jsign Code Signing Test Certificate 2024 (RSA)"
        );
    }

    #[test]
    fn values_are_quoted_as_certnametostr_does() {
        assert_eq!(quoted("a, b"), "\"a, b\"");
        assert_eq!(quoted(" x"), "\" x\"");
        assert_eq!(quoted("say \"hi\"="), "\"say \"\"hi\"\"=\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("plain (RSA)"), "plain (RSA)");
    }
}
