//! The integration tests, one binary (each file a module): built once, linked once. nextest
//! still runs every test in its own process. `common` holds the shared harnesses: LocalStack,
//! the fault proxy, the Lambda Runtime API, the pipeline app and the soak.

mod common;

mod access;
mod api;
mod archival;
mod bif_reader;
mod callbacks;
mod cli;
mod confinement;
mod diagram_reference;
mod domain;
mod e2e;
mod fail_closed;
mod hostile;
mod image;
mod image_confinement;
mod inference_random;
mod lambda;
mod layout;
mod manifest;
mod model_routes;
mod pipeline;
mod render;
mod schemas;
mod scoring;
mod scoring_cli;
mod signing;
mod soak;
mod tagged_text;
mod texformat;
