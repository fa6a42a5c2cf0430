//! `/v1/score` and `/v1/score/improvements`: the DiAGRAM network's scores, typed models in.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{blocking, read_json};
use super::{ApiError, ApiState, Shared};
use crate::config::MAX_BATCH;
use crate::domain::ParamError;
use crate::domain::diagram::Model;
use crate::scoring::Scorer;

impl ApiState {
    pub fn scorer(&self) -> Result<std::sync::Arc<Scorer>, ApiError> {
        self.scorer.clone().map_err(|e| ApiError::ScoringUnavailable(e.to_string()))
    }
}

pub async fn score_many(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = s.scorer()?;
    let value = read_json(&headers, body, s.cfg.max_batch_bytes).await?;
    let Value::Array(models) = value else {
        return Err(ApiError::Invalid(ParamError::new("", "send an array of model objects")));
    };
    if models.is_empty() || models.len() > MAX_BATCH {
        return Err(ApiError::Invalid(ParamError::new("", format!("send 1 to {MAX_BATCH} model objects"))));
    }
    let scores = blocking(move || {
        models
            .iter()
            .enumerate()
            .map(|(i, m)| Model::parse(m).and_then(|m| d.score(&m)).map_err(|error| ApiError::Score { error, index: Some(i) }))
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    Ok(axum::Json(scores).into_response())
}

pub async fn improvements(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = s.scorer()?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let list = blocking(move || d.improvements_value(&value)).await?.map_err(|error| ApiError::Score { error, index: None })?;
    let ranked: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, imp)| {
            let mut v = serde_json::to_value(imp).expect("serialises");
            v["rank"] = json!(i + 1);
            v["total_gain"] = json!(imp.total_gain());
            v
        })
        .collect();
    Ok(axum::Json(json!({ "improvements": ranked })).into_response())
}
