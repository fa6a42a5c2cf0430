//! reportq: report requests in, PDF reports out.
//!
//! The library holds everything the binaries do, so tests call it directly:
//! [`request`] parses the one request format, [`template`] turns parameters into LaTeX,
//! charts ([`chart`]) and CSV ([`csv`]), [`render`] runs TeX in a confined child process
//! ([`sandbox`]), and [`setup`] prepares the TeX bundle's format.
//!
//! [`domain`] holds the types and rules without I/O: the DiAGRAM model
//! ([`domain::diagram`], the one parse every route uses) and job records ([`domain::job`]).
//!
//! The job pipeline: [`api`] (thin handlers, one file per resource) validates and hands
//! requests to [`submit`], which stores jobs ([`store::JobStore`]: S3, or in memory for the
//! tests) and queues them ([`queue::JobQueue`]: SQS, or in memory); [`worker`] claims, renders
//! and finishes them over the same interfaces; [`wire`] types are the API's answers, shared
//! with [`client`], the command-line client. [`aws`] builds the SDK clients, [`config`] reads
//! each process's settings once, [`logging`] sets up `tracing`, [`metrics`] records every
//! figure once for Prometheus and CloudWatch (EMF), and [`domain::trace`] carries one trace id
//! from the API through the queue to the worker. [`access`] decides who may call the `/v1`
//! routes (API keys, JWT claims, quotas); [`webhook`] tells callers when their jobs end.
// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

pub mod access;
pub mod api;
pub mod archive;
pub mod aws;
pub mod batch;
pub mod bayes;
pub mod bench;
pub mod chart;
pub mod client;
pub mod config;
pub mod consumer;
pub mod csv;
pub mod domain;
pub mod fanout;
pub mod latex;
pub mod logging;
pub mod metrics;
pub mod pdfwrite;
pub mod provenance;
pub mod queue;
pub mod render;
pub mod request;
pub mod sandbox;
pub mod scoring;
pub mod setup;
pub mod signing;
pub mod startup;
pub mod store;
pub mod submit;
pub mod sweep;
pub mod tagging;
pub mod template;
pub mod texformat;
pub mod verify;
pub mod webhook;
pub mod wire;
pub mod worker;
pub mod xmp;

pub use render::{RenderError, Rendered, Renderer};
pub use request::{ParamError, ReportRequest};
