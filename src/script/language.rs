//! The language table: for each [`ScriptLanguage`], the file extensions, the comment form of
//! its signature block, the SIP that signs it (GUID and version in SpcSipInfo) and which digest
//! rule that SIP applies.

pub use crate::error::ScriptLanguage;

/// The SIP GUID of the PowerShell SIP (`pwrshsip.dll`), {603BCC1F-4B59-4E08-B724-D2C6297EF351},
/// as SpcSipInfo stores it (Data1, Data2 and Data3 little-endian, then Data4).
///
/// Not in a public header: it is the key under which PowerShell registers `pwrshsip.dll`
/// (`HKLM\SOFTWARE\Microsoft\Cryptography\OID\EncodingType 0\CryptSIPDll*\{603BCC1F-…}`), and
/// the bytes Microsoft's own signed scripts carry (for example `kdnetdebugvm.ps1` in the Windows
/// SDK debuggers), with SIP version 65536.
pub const POWERSHELL_SIP_GUID: [u8; 16] = [
    0x1f, 0xcc, 0x3b, 0x60, 0x59, 0x4b, 0x08, 0x4e, 0xb7, 0x24, 0xd2, 0xc6, 0x29, 0x7e, 0xf3, 0x51,
];

/// The SIP GUID of the JScript SIP (`wshext.dll`), `OID_JSSIP` =
/// {06C9E010-38CE-11D4-A2A3-00104BD35090} in the Windows SDK header `ActivScp.h`, as stored.
pub const JSCRIPT_SIP_GUID: [u8; 16] = [
    0x10, 0xe0, 0xc9, 0x06, 0xce, 0x38, 0xd4, 0x11, 0xa2, 0xa3, 0x00, 0x10, 0x4b, 0xd3, 0x50, 0x90,
];

/// The SIP GUID of the VBScript SIP (`wshext.dll`), `OID_VBSSIP` =
/// {1629F04E-2799-4DB5-8FE5-ACE10F17EBAB} in the Windows SDK header `ActivScp.h`, as stored.
pub const VBSCRIPT_SIP_GUID: [u8; 16] = [
    0x4e, 0xf0, 0x29, 0x16, 0x99, 0x27, 0xb5, 0x4d, 0x8f, 0xe5, 0xac, 0xe1, 0x0f, 0x17, 0xeb, 0xab,
];

/// The SIP GUID of the Windows Script File SIP (`wshext.dll`), `OID_WSFSIP` =
/// {1A610570-38CE-11D4-A2A3-00104BD35090} in the Windows SDK header `ActivScp.h`, as stored.
pub const WSF_SIP_GUID: [u8; 16] = [
    0x70, 0x05, 0x61, 0x1a, 0xce, 0x38, 0xd4, 0x11, 0xa2, 0xa3, 0x00, 0x10, 0x4b, 0xd3, 0x50, 0x90,
];

/// Which of Windows' two script SIPs digests the language, and so which rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sip {
    /// `pwrshsip.dll`: the text before the block, byte-order mark included (as U+FEFF), as
    /// UTF-16LE. A file without a byte-order mark is UTF-8 when its first 32 bytes hold UTF-8
    /// multibyte sequences, else the ANSI code page.
    PowerShell,
    /// `wshext.dll`: the text without the block and without the byte-order mark, as UTF-16LE,
    /// then the block's position in UTF-16 code units as a little-endian `u32`.
    WindowsScriptHost,
}

/// How a language's signature block is written: each line is `prefix + text + suffix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockStyle {
    /// The whole first line of the block.
    pub begin: &'static str,
    /// The whole last line of the block.
    pub end: &'static str,
    /// What comes before the base64 text on a data line.
    pub prefix: &'static str,
    /// What comes after the base64 text on a data line.
    pub suffix: &'static str,
    /// Base64 characters per data line when writing (signtool's widths; any width is read).
    pub width: usize,
}

impl ScriptLanguage {
    /// Every language, in table order.
    pub const ALL: [ScriptLanguage; 6] = [
        ScriptLanguage::PowerShell,
        ScriptLanguage::PowerShellXml,
        ScriptLanguage::PowerShellMof,
        ScriptLanguage::JScript,
        ScriptLanguage::VBScript,
        ScriptLanguage::WindowsScript,
    ];

    /// The file extensions (lower case, without the dot) of the language.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ScriptLanguage::PowerShell => &["ps1", "psm1", "psd1"],
            ScriptLanguage::PowerShellXml => &["ps1xml", "psc1", "cdxml"],
            ScriptLanguage::PowerShellMof => &["mof"],
            ScriptLanguage::JScript => &["js"],
            ScriptLanguage::VBScript => &["vbs"],
            ScriptLanguage::WindowsScript => &["wsf"],
        }
    }

    /// The language of files with this extension (without the dot, any case), if it is a
    /// script extension Windows signs.
    pub fn from_extension(extension: &str) -> Option<Self> {
        let ext = extension.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| l.extensions().contains(&ext.as_str()))
    }

    /// The SIP GUID that SpcSipInfo carries for this language, as stored (see the constants).
    pub fn sip_guid(self) -> &'static [u8; 16] {
        match self {
            ScriptLanguage::PowerShell
            | ScriptLanguage::PowerShellXml
            | ScriptLanguage::PowerShellMof => &POWERSHELL_SIP_GUID,
            ScriptLanguage::JScript => &JSCRIPT_SIP_GUID,
            ScriptLanguage::VBScript => &VBSCRIPT_SIP_GUID,
            ScriptLanguage::WindowsScript => &WSF_SIP_GUID,
        }
    }

    /// The SIP version that SpcSipInfo carries: 65536 for PowerShell, 1 for the Windows Script
    /// Host SIPs (as in Microsoft-signed scripts and signtool's output).
    pub fn sip_version(self) -> u32 {
        match self.sip() {
            Sip::PowerShell => 0x1_0000,
            Sip::WindowsScriptHost => 1,
        }
    }

    /// Which SIP digests the language.
    pub(crate) fn sip(self) -> Sip {
        match self {
            ScriptLanguage::PowerShell
            | ScriptLanguage::PowerShellXml
            | ScriptLanguage::PowerShellMof => Sip::PowerShell,
            ScriptLanguage::JScript | ScriptLanguage::VBScript | ScriptLanguage::WindowsScript => {
                Sip::WindowsScriptHost
            }
        }
    }

    /// Whether the block goes before the last `</job>` (Windows Script Files) rather than at
    /// the end of the file.
    pub(crate) fn inserts_before_job_end(self) -> bool {
        self == ScriptLanguage::WindowsScript
    }

    /// The comment form of the signature block.
    pub(crate) fn style(self) -> BlockStyle {
        match self {
            ScriptLanguage::PowerShell => BlockStyle {
                begin: "# SIG # Begin signature block",
                end: "# SIG # End signature block",
                prefix: "# ",
                suffix: "",
                width: 64,
            },
            ScriptLanguage::PowerShellXml => BlockStyle {
                begin: "<!-- SIG # Begin signature block -->",
                end: "<!-- SIG # End signature block -->",
                prefix: "<!-- ",
                suffix: " -->",
                width: 64,
            },
            ScriptLanguage::PowerShellMof => BlockStyle {
                begin: "/* SIG # Begin signature block */",
                end: "/* SIG # End signature block */",
                prefix: "/* ",
                suffix: " */",
                width: 64,
            },
            ScriptLanguage::JScript => BlockStyle {
                begin: "// SIG // Begin signature block",
                end: "// SIG // End signature block",
                prefix: "// SIG // ",
                suffix: "",
                width: 44,
            },
            ScriptLanguage::VBScript => BlockStyle {
                begin: "'' SIG '' Begin signature block",
                end: "'' SIG '' End signature block",
                prefix: "'' SIG '' ",
                suffix: "",
                width: 44,
            },
            ScriptLanguage::WindowsScript => BlockStyle {
                begin: "<signature>",
                end: "</signature>",
                prefix: "** SIG ** ",
                suffix: "",
                width: 44,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_back_to_their_language() {
        for l in ScriptLanguage::ALL {
            for e in l.extensions() {
                assert_eq!(ScriptLanguage::from_extension(e), Some(l));
                assert_eq!(
                    ScriptLanguage::from_extension(&e.to_ascii_uppercase()),
                    Some(l)
                );
            }
        }
        assert_eq!(ScriptLanguage::from_extension("exe"), None);
        assert_eq!(ScriptLanguage::from_extension(""), None);
    }

    #[test]
    fn guids_are_the_windows_sdk_values_in_guid_memory_order() {
        // {06C9E010-38CE-11D4-A2A3-00104BD35090}: Data1..3 little-endian, Data4 as written.
        let js = u32::from_le_bytes([0x10, 0xe0, 0xc9, 0x06]);
        assert_eq!(js, 0x06C9_E010);
        assert_eq!(
            &JSCRIPT_SIP_GUID[8..],
            &[0xa2, 0xa3, 0x00, 0x10, 0x4b, 0xd3, 0x50, 0x90]
        );
        assert_eq!(
            u32::from_le_bytes([0x4e, 0xf0, 0x29, 0x16]),
            0x1629_F04E,
            "VBScript"
        );
        assert_eq!(u32::from_le_bytes([0x70, 0x05, 0x61, 0x1a]), 0x1A61_0570);
        assert_eq!(
            u32::from_le_bytes([0x1f, 0xcc, 0x3b, 0x60]),
            0x603B_CC1F,
            "PowerShell"
        );
    }
}
