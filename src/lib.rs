//! reportq: report requests in, PDF reports out.
//!
//! The library holds everything the binaries do, so tests call it directly:
//! [`request`] parses the one request format, [`template`] turns parameters into LaTeX,
//! charts ([`chart`]) and CSV ([`csv`]), [`render`] runs TeX in a confined child process
//! ([`sandbox`]), and [`setup`] prepares the TeX bundle's format.

pub mod chart;
pub mod config;
pub mod csv;
pub mod bayes;
pub mod bench;
pub mod latex;
pub mod render;
pub mod request;
pub mod sandbox;
pub mod scoring;
pub mod setup;
pub mod template;

pub use render::{RenderError, Rendered, Renderer};
pub use request::{ParamError, ReportRequest};
