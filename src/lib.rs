//! reportq: report requests in, PDF reports out.
//!
//! The library holds everything the binaries do, so tests call it directly:
//! [`request`] parses the one request format, [`template`] turns parameters into LaTeX,
//! charts ([`chart`]) and CSV ([`csv`]), [`render`] runs TeX in a confined child process
//! ([`sandbox`]), and [`setup`] prepares the TeX bundle's format.
//!
//! The job pipeline: [`api`] takes requests and queues [`job`]s ([`queue`], SQS) whose records
//! and outputs live in S3 ([`store`]); [`worker`] renders them; [`client`] is the command-line
//! client of a deployed API. [`aws`] builds the SDK clients, [`config`] reads every setting.

pub mod api;
pub mod aws;
pub mod chart;
pub mod client;
pub mod config;
pub mod csv;
pub mod job;
pub mod queue;
pub mod bayes;
pub mod bench;
pub mod latex;
pub mod render;
pub mod request;
pub mod sandbox;
pub mod scoring;
pub mod setup;
pub mod store;
pub mod template;
pub mod worker;

pub use render::{RenderError, Rendered, Renderer};
pub use request::{ParamError, ReportRequest};
