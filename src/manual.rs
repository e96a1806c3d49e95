//! The authsign manual: how Authenticode works for each format, what parity with signtool and
//! osslsigncode means and how it is tested, and where authsign deliberately differs from other
//! tools. This module holds documentation only.

#[doc = include_str!("../docs/architecture.md")]
pub mod architecture {}

#[doc = include_str!("../docs/authenticode.md")]
pub mod authenticode {}

#[doc = include_str!("../docs/parity.md")]
pub mod parity {}

#[doc = include_str!("../docs/verification.md")]
pub mod verification {}

#[doc = include_str!("../docs/quirks.md")]
pub mod quirks {}

#[doc = include_str!("../docs/signers.md")]
pub mod signers {}

#[doc = include_str!("../docs/deployment.md")]
pub mod deployment {}
