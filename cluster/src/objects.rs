//! The object store that holds sealed splits, built from
//! `[cluster.object_store]`: AWS S3 or any S3-compatible endpoint, with
//! credentials from the usual AWS environment variables.

use crate::config::ObjectStoreConfig;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use std::sync::Arc;

/// The object store could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cluster.object_store: {0} (check url, endpoint, region and the AWS_* credentials)")]
pub struct ObjectStoreError(String);

/// The split store `config` names; a prefix in the URL scopes every key.
pub fn open(config: &ObjectStoreConfig) -> Result<Arc<dyn ObjectStore>, ObjectStoreError> {
    let (bucket, prefix) = bucket_and_prefix(&config.url)
        .ok_or_else(|| ObjectStoreError(format!("`{}` is not s3://bucket[/prefix]", config.url)))?;
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&config.region)
        // The client's default retries a request for up to 3 minutes: a
        // query waiting on a split would hang that long while the store is
        // down. Uploads and merges retry in their own loops anyway.
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        });
    let endpoint = config.endpoint.trim();
    if !endpoint.is_empty() {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    let s3 = builder
        .build()
        .map_err(|e| ObjectStoreError(e.to_string()))?;
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    })
}

/// Deletes the objects `ids` once `grace` has passed: the catalog no
/// longer lists them, and queries that listed them before have finished.
/// A node that dies meanwhile leaves them behind as garbage nobody reads.
pub fn delete_after(objects: Arc<dyn ObjectStore>, ids: Vec<String>, grace: std::time::Duration) {
    use object_store::ObjectStoreExt;
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        for id in ids {
            let path = object_store::path::Path::from(id.as_str());
            if let Err(e) = objects.delete(&path).await {
                tracing::warn!(split = %id, error = %e, "cannot delete a split's object; it is garbage nobody reads");
            }
        }
    });
}

/// `s3://bucket/some/prefix/` → (`bucket`, `some/prefix`).
fn bucket_and_prefix(url: &str) -> Option<(&str, &str)> {
    let rest = url.trim().strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix.trim_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_maybe_a_prefix() {
        assert_eq!(bucket_and_prefix("s3://splits"), Some(("splits", "")));
        assert_eq!(bucket_and_prefix("s3://splits/"), Some(("splits", "")));
        assert_eq!(
            bucket_and_prefix("s3://splits/a/b/"),
            Some(("splits", "a/b"))
        );
        assert_eq!(bucket_and_prefix("s3:///x"), None);
        assert_eq!(bucket_and_prefix("gs://splits"), None);
    }
}
