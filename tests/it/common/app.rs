//! The whole pipeline in one test process: the API router served over real HTTP on a free
//! 127.0.0.1 port, and a worker, both on a test's own bucket and queues in LocalStack.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reportq::api::router;
use reportq::config::{ApiSettings, WorkerSettings};
use reportq::queue::SqsQueue;
use reportq::startup::Services;
use reportq::store::JobStore;
use reportq::worker::Worker;

use super::aws::{Resources, clients, resources, sdk_config};

/// Changes a test makes to the settings before the app starts.
pub type Tweak = Box<dyn FnOnce(&mut ApiSettings, &mut WorkerSettings)>;

pub struct Opts {
    pub visibility_secs: u32,
    pub max_receive: u32,
    /// Where the worker's S3 client connects (a fault proxy), if not straight to LocalStack.
    pub worker_s3_endpoint: Option<String>,
    pub child_exe: PathBuf,
    /// Interactive jobs on a queue of their own (the deployed layout); off: one queue.
    pub lanes: bool,
    /// Webhooks on: the delivery queue set for the API and the worker (the tweak then sets
    /// secrets, allow-list and back-off).
    pub webhooks: bool,
    pub tweak: Tweak,
}

impl Opts {
    pub fn new(child_exe: impl Into<PathBuf>) -> Self {
        Opts {
            visibility_secs: 30,
            max_receive: 3,
            worker_s3_endpoint: None,
            child_exe: child_exe.into(),
            lanes: false,
            webhooks: false,
            tweak: Box::new(|_, _| {}),
        }
    }
}

pub struct App {
    pub res: Resources,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cfg: ApiSettings,
    pub worker_cfg: WorkerSettings,
    /// The bucket as the API sees it.
    pub jobs: Arc<dyn JobStore>,
    /// The bulk lane (and the only queue without `lanes`).
    pub queue: SqsQueue,
    pub interactive: Option<SqsQueue>,
    /// The webhook delivery queue, with `Opts::webhooks`.
    pub webhooks: Option<SqsQueue>,
    pub worker: Arc<Worker>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The test's settings, built explicitly (never from the developer's shell).
pub fn config(res: &Resources, max_receive: u32) -> (ApiSettings, WorkerSettings) {
    let model = Some(super::aws::repo().join("tests/fixtures/diagram-like.bif"));
    let mut api = ApiSettings::new(res.bucket.clone(), res.queue_url.clone());
    api.pdf_wait = Duration::from_secs(20);
    api.diagram_model = model.clone();
    api.cors_origins = vec!["https://diagram.example.org".into()];
    let mut worker = WorkerSettings::new(res.bucket.clone(), res.queue_url.clone());
    worker.poll_wait = Duration::from_secs(1);
    worker.max_receive_count = max_receive;
    worker.job_deadline = Duration::from_secs(60);
    worker.diagram_model = model;
    (api, worker)
}

/// The tests' render settings, built explicitly: the bundle `make setup` built (the path the
/// Makefile exports, else the default), the given TeX child, defaults for the rest.
pub fn render_config(child_exe: &std::path::Path) -> reportq::config::RenderConfig {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let bundle = std::env::var("REPORTQ_TEX_BUNDLE").unwrap_or_else(|_| format!("{home}/.cache/reportq/tex-bundle"));
    let mut render = reportq::config::RenderConfig::read(&reportq::config::Env::from_pairs([("REPORTQ_TEX_BUNDLE", bundle.as_str())])).unwrap();
    render.child_exe = Some(child_exe.to_path_buf());
    render
}

pub async fn app(endpoint: &str, opts: Opts) -> App {
    let res = resources(endpoint, opts.visibility_secs, opts.max_receive);
    let (mut cfg, mut worker_cfg) = config(&res, opts.max_receive);
    if opts.lanes {
        cfg.interactive_queue_url = Some(res.interactive_url.clone());
        worker_cfg.interactive_queue_url = Some(res.interactive_url.clone());
    }
    if opts.webhooks {
        cfg.webhooks.queue_url = Some(res.webhook_url.clone());
        worker_cfg.webhooks.queue_url = Some(res.webhook_url.clone());
    }
    (opts.tweak)(&mut cfg, &mut worker_cfg);
    // Wired as production is (reportq::startup), on this test's bucket and endpoint.
    let (s3, sqs) = clients(endpoint).await;
    let services = Services::build(&res.bucket, &sdk_config(endpoint).await);
    let jobs: Arc<dyn JobStore> = services.store.clone();
    let state = services.api_state(cfg.clone());
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

    let renderer = Arc::new(reportq::Renderer::new(worker_cfg.cap_render(render_config(&opts.child_exe))).unwrap());
    // The worker's store may go through a fault proxy; its queues never do.
    let worker_services = match &opts.worker_s3_endpoint {
        Some(e) => services.clone().with_store_from(&res.bucket, &sdk_config(e).await),
        None => services.clone(),
    };
    let (worker, queues) = worker_services.worker(worker_cfg.clone(), renderer).await.unwrap();
    let queue = (*queues.bulk).clone();
    let interactive = queues.interactive.as_deref().cloned();
    let webhooks = queues.webhooks.as_deref().cloned();
    let worker = Arc::new(worker);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap();
    App { res, s3, sqs, cfg, worker_cfg, jobs, queue, interactive, webhooks, worker, base, http, stop: Some(tx) }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs the worker's poll loop in the background until the returned sender is dropped.
    pub fn spawn_worker(&self) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = self.worker.clone();
        let (bulk, interactive) = (self.queue.clone(), self.interactive.clone());
        tokio::spawn(async move {
            let interactive = interactive.as_ref().map(|q| q as &dyn reportq::consumer::Source);
            worker
                .run(&bulk, interactive, async {
                    let _ = rx.await;
                })
                .await;
        });
        tx
    }

    /// Runs the webhook deliverer's poll loop in the background (as `reportq worker` does) until
    /// the returned sender is dropped.
    pub fn spawn_deliverer(&self) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = self.worker.clone();
        let queue = self.webhooks.clone().expect("Opts::webhooks");
        tokio::spawn(async move {
            let d = worker.deliverer().expect("webhooks on").clone();
            d.run(&queue, 16, Duration::from_secs(1), async {
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
