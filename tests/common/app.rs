//! The whole pipeline in one test process: the API router served over real HTTP on a free
//! 127.0.0.1 port, and a worker, both on a test's own bucket and queues in LocalStack.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reportq::api::{ApiState, router};
use reportq::config::{PipelineConfig, RenderConfig};
use reportq::job::Jobs;
use reportq::queue::Queue;
use reportq::store::Store;
use reportq::worker::Worker;

use super::aws::{Resources, clients, resources};

pub struct Opts {
    pub visibility_secs: u32,
    pub max_receive: u32,
    /// Where the worker's S3 client connects (a fault proxy), if not straight to LocalStack.
    pub worker_s3_endpoint: Option<String>,
    pub child_exe: PathBuf,
    pub tweak: Box<dyn FnOnce(&mut PipelineConfig)>,
}

impl Opts {
    pub fn new(child_exe: impl Into<PathBuf>) -> Self {
        Opts { visibility_secs: 30, max_receive: 3, worker_s3_endpoint: None, child_exe: child_exe.into(), tweak: Box::new(|_| {}) }
    }
}

pub struct App {
    pub res: Resources,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cfg: PipelineConfig,
    pub jobs: Jobs,
    pub queue: Queue,
    pub worker: Arc<Worker>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub fn config(res: &Resources, max_receive: u32) -> PipelineConfig {
    let mut cfg = PipelineConfig::from_env().unwrap();
    cfg.bucket = res.bucket.clone();
    cfg.queue_url = Some(res.queue_url.clone());
    cfg.poll_wait = Duration::from_secs(1);
    cfg.max_receive_count = max_receive;
    cfg.job_deadline = Duration::from_secs(60);
    cfg.pdf_wait = Duration::from_secs(20);
    cfg.diagram_model = Some(super::aws::repo().join("tests/fixtures/diagram-like.bif"));
    cfg.cors_origins = vec!["https://diagram.example.org".into()];
    cfg
}

pub async fn app(endpoint: &str, opts: Opts) -> App {
    let res = resources(endpoint, opts.visibility_secs, opts.max_receive);
    let mut cfg = config(&res, opts.max_receive);
    (opts.tweak)(&mut cfg);
    let (s3, sqs) = clients(endpoint).await;
    let state = ApiState::new(cfg.clone(), s3.clone(), sqs.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router(Arc::new(state)))
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });

    let mut render = RenderConfig::from_env().unwrap();
    render.child_exe = Some(opts.child_exe.clone());
    let renderer = Arc::new(reportq::Renderer::new(reportq::worker::render_config(render, &cfg)).unwrap());
    let worker_s3 = match &opts.worker_s3_endpoint {
        Some(e) => clients(e).await.0,
        None => s3.clone(),
    };
    let worker = Arc::new(Worker::new(Jobs::new(Store::new(worker_s3, res.bucket.clone())), renderer, cfg.clone()));
    let jobs = Jobs::new(Store::new(s3.clone(), res.bucket.clone()));
    let queue = Queue::new(sqs.clone(), res.queue_url.clone());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap();
    App { res, s3, sqs, cfg, jobs, queue, worker, base, http, stop: Some(tx) }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs the worker's poll loop in the background until the returned sender is dropped.
    pub fn spawn_worker(&self) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = self.worker.clone();
        let queue = self.queue.clone();
        tokio::spawn(async move {
            worker
                .run(&queue, async {
                    let _ = rx.await;
                })
                .await;
        });
        tx
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
