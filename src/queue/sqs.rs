//! The SQS queue: sends in batches of ten with retries, long-polls and deletes for
//! `reportq worker` (what the Lambda event source does on AWS).

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use futures::StreamExt;

use super::{JobMessage, JobQueue, QueueError};

/// SendMessageBatch's limit.
const BATCH: usize = 10;
/// Tries for entries SQS refuses within an accepted batch (throttling, internal errors).
const TRIES: u32 = 5;
/// Batch calls in flight at once: bulk submits are bound by round trips, not bandwidth.
const IN_FLIGHT: usize = 8;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

fn describe<E: std::error::Error + 'static>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The message's trace as SQS's `AWSTraceHeader`: the Lambda event source hands it to the
/// worker, and X-Ray links the two functions' segments by it.
fn trace_attribute(msg: &JobMessage) -> Option<std::collections::HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>> {
    let trace = msg.trace?;
    let value = MessageSystemAttributeValue::builder().data_type("String").string_value(trace.xray()).build().expect("data type is set");
    Some([(MessageSystemAttributeNameForSends::AwsTraceHeader, value)].into())
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Sends one message body, delivered after `delay` (at most SQS's 15 minutes).
    pub async fn send_body(&self, body: String, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError { op: "SendMessage", message: describe(&e) })?;
        Ok(())
    }

    async fn send_one(&self, msg: &JobMessage) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(msg).expect("serialises"))
            .set_message_system_attributes(trace_attribute(msg))
            .send()
            .await
            .map_err(|e| QueueError { op: "SendMessage", message: describe(&e) })?;
        Ok(())
    }

    /// Sends every message, ten per SendMessageBatch call, several calls at once. Entries that
    /// SQS refuses inside an accepted call (it answers them one by one) are sent again with
    /// back-off; the error says how many never got through.
    async fn send_many(&self, msgs: &[JobMessage]) -> Result<(), QueueError> {
        let chunks: Vec<Vec<JobMessage>> = msgs.chunks(BATCH).map(<[JobMessage]>::to_vec).collect();
        let results: Vec<Result<(), QueueError>> = futures::stream::iter(chunks)
            .map(|chunk| {
                let q = self.clone();
                async move { q.send_chunk(&chunk).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let failed: Vec<&QueueError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(QueueError {
                op: "SendMessageBatch",
                message: format!("{} of {} chunks could not be sent; first: {}", failed.len(), results.len(), first.message),
            }),
        }
    }

    async fn send_chunk(&self, chunk: &[JobMessage]) -> Result<(), QueueError> {
        // Entry ids are positions in this chunk: a failed entry names which message to resend.
        let mut pending: Vec<(usize, &JobMessage)> = chunk.iter().enumerate().collect();
        let mut last = String::new();
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(m).expect("serialises"))
                        .set_message_system_attributes(trace_attribute(m))
                        .build()
                        .expect("id and body are set")
                })
                .collect::<Vec<_>>();
            let out = match self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await {
                Ok(out) => out,
                Err(e) => {
                    last = describe(&e);
                    continue;
                }
            };
            let failed: std::collections::HashSet<usize> = out
                .failed()
                .iter()
                .filter_map(|f| {
                    last = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    f.id().parse().ok()
                })
                .collect();
            pending.retain(|(i, _)| failed.contains(i));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError { op: "SendMessageBatch", message: format!("{} messages not sent after {TRIES} tries: {last}", pending.len()) })
    }

    /// One numeric attribute of the queue (GetQueueAttributes).
    async fn attribute(&self, name: aws_sdk_sqs::types::QueueAttributeName) -> Result<Option<u64>, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(|e| QueueError { op: "GetQueueAttributes", message: describe(&e) })?;
        Ok(out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()))
    }

    /// The queue's visibility timeout, if the caller may read the queue's attributes.
    pub async fn visibility_timeout(&self) -> Result<Option<Duration>, QueueError> {
        Ok(self.attribute(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout).await?.map(Duration::from_secs))
    }

    /// Long-polls for up to `max` messages, as the Lambda event source would hand them over.
    pub async fn receive(&self, max: i32, wait: Duration) -> Result<Vec<SqsMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| QueueError { op: "ReceiveMessage", message: describe(&e) })?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let mut msg = SqsMessage::default();
                msg.message_id = m.message_id().map(str::to_string);
                msg.receipt_handle = m.receipt_handle().map(str::to_string);
                msg.body = m.body().map(str::to_string);
                msg.md5_of_body = m.md5_of_body().map(str::to_string);
                msg.attributes = m.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect()).unwrap_or_default();
                msg.event_source = Some("aws:sqs".into());
                msg
            })
            .collect())
    }

    /// Deletes handled messages (what the Lambda event source does for records not reported
    /// as failures).
    pub async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().expect("set"))
                .collect::<Vec<_>>();
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError { op: "DeleteMessageBatch", message: describe(&e) })?;
        }
        Ok(())
    }
}

/// The longest single wait SQS gives a message (DelaySeconds); longer waits are chains.
const SQS_MAX_DELAY: Duration = Duration::from_secs(900);

#[async_trait::async_trait]
impl super::DeliveryQueue for SqsQueue {
    async fn send_delivery(&self, msg: &crate::domain::webhook::DeliveryMessage, delay: Duration) -> Result<(), QueueError> {
        self.send_body(serde_json::to_string(msg).expect("serialises"), delay.min(SQS_MAX_DELAY)).await
    }
}

#[async_trait::async_trait]
impl super::Source for SqsQueue {
    fn url(&self) -> &str {
        &self.url
    }

    async fn receive(&self, max: i32, wait: Duration) -> Result<Vec<SqsMessage>, QueueError> {
        SqsQueue::receive(self, max, wait).await
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        SqsQueue::delete(self, receipts).await
    }
}

#[async_trait::async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, msg: &JobMessage) -> Result<(), QueueError> {
        self.send_one(msg).await
    }

    async fn send_all(&self, msgs: &[JobMessage]) -> Result<(), QueueError> {
        self.send_many(msgs).await
    }

    async fn send_raw(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.send_body(body.to_string(), delay).await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.visibility_timeout().await.map(|_| ())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        Ok(self.attribute(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).await?.unwrap_or(0))
    }
}
