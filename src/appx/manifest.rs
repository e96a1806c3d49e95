//! What signing and verification need from a package's manifest (`AppxManifest.xml`,
//! `Package/Identity@Publisher`) or a bundle's (`AppxMetadata/AppxBundleManifest.xml`,
//! `Bundle/Identity@Publisher` and the `Packages/Package` list).

use super::{malformed, xml};
use crate::error::{MalformedKind, Result};

/// One package of a bundle, as the bundle manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePackage {
    /// The entry name (`FileName`).
    pub file_name: String,
    /// Offset of its data in the bundle (`Offset`), if given.
    pub offset: Option<u64>,
    /// Its size (`Size`), if given.
    pub size: Option<u64>,
}

/// The identity a manifest declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `Identity@Publisher`: the subject the signer certificate must have.
    pub publisher: String,
    /// For a bundle, its packages.
    pub packages: Vec<BundlePackage>,
}

impl Manifest {
    /// Parse a package manifest (`bundle` false) or a bundle manifest, whose data is at file
    /// offset `at`.
    pub fn parse(text: &str, bundle: bool, at: u64) -> Result<Self> {
        let (what, root_name) = if bundle {
            ("AppxBundleManifest.xml", "Bundle")
        } else {
            ("AppxManifest.xml", "Package")
        };
        let doc = xml::parse(text, what, at)?;
        let root = doc.root_element();
        if root.tag_name().name() != root_name {
            return Err(malformed(
                at,
                MalformedKind::WrongFormat,
                format!("{what}: the root element is not <{root_name}>"),
            ));
        }
        fn child<'a, 'i>(
            parent: roxmltree::Node<'a, 'i>,
            name: &str,
        ) -> Option<roxmltree::Node<'a, 'i>> {
            parent
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == name)
        }
        let publisher = child(root, "Identity")
            .and_then(|i| i.attribute("Publisher"))
            .ok_or_else(|| {
                malformed(
                    at,
                    MalformedKind::Truncated,
                    format!("{what}: no Identity Publisher"),
                )
            })?
            .to_string();
        let mut packages = Vec::new();
        if bundle {
            if let Some(list) = child(root, "Packages") {
                for p in list
                    .children()
                    .filter(|n| n.is_element() && n.tag_name().name() == "Package")
                {
                    let number = |name: &str| -> Result<Option<u64>> {
                        p.attribute(name)
                            .map(|v| {
                                v.parse::<u64>().map_err(|_| {
                                    malformed(
                                        at,
                                        MalformedKind::BadEncoding,
                                        format!("{what}: Package {name}={v:?} is not a number"),
                                    )
                                })
                            })
                            .transpose()
                    };
                    packages.push(BundlePackage {
                        file_name: p
                            .attribute("FileName")
                            .ok_or_else(|| {
                                malformed(
                                    at,
                                    MalformedKind::Truncated,
                                    format!("{what}: Package without FileName"),
                                )
                            })?
                            .to_string(),
                        offset: number("Offset")?,
                        size: number("Size")?,
                    });
                }
            }
        }
        Ok(Self {
            publisher,
            packages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_is_unescaped() {
        let m = Manifest::parse(
            "<Package xmlns=\"x\"><Identity Name=\"a\" Publisher=\"CN=A &amp; B, O=&quot;x&quot;\"/></Package>",
            false,
            0,
        )
        .unwrap();
        assert_eq!(m.publisher, "CN=A & B, O=\"x\"");
        assert!(Manifest::parse("<Package/>", false, 0).is_err());
        assert!(
            Manifest::parse("<Bundle><Identity Publisher=\"CN=x\"/></Bundle>", false, 0).is_err()
        );
    }
}
