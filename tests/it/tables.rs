//! Private tables on DynamoDB Local: the fault matrix gives every run a table of its own, so
//! that the invariant checker's Scan reads one run's items and not every parallel test's.
//! A private table is deleted by `delete()`, or, if a test panics first, when it is dropped.

use scimlink::store::{create_table_with_stream, Store};

/// A table named `scimlink-test-<tag>-<uuid>`, created on DynamoDB Local.
pub struct PrivateTable {
    pub name: String,
    deleted: bool,
}

/// A plain client of DynamoDB Local (no faults, SDK defaults).
pub async fn plain_store(table: &str) -> Store {
    let sdk = scimlink::aws::sdk_loader()
        .endpoint_url(crate::common::endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .load()
        .await;
    Store::new(&sdk, table)
}

impl PrivateTable {
    pub async fn create(tag: &str) -> Self {
        let name = format!("scimlink-test-{tag}-{}", uuid_like());
        let store = plain_store(&name).await;
        // No stream: the fault matrix never reads one (see `create_table_with_stream`).
        create_table_with_stream(&store, false)
            .await
            .expect("create a private table");
        PrivateTable {
            name,
            deleted: false,
        }
    }

    pub async fn delete(mut self) {
        let store = plain_store(&self.name).await;
        let _ = store
            .client()
            .delete_table()
            .table_name(&self.name)
            .send()
            .await;
        self.deleted = true;
    }
}

impl Drop for PrivateTable {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // A panicking test: delete on a runtime of our own (the test's may be unwinding).
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let store = plain_store(&name).await;
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    store.client().delete_table().table_name(&name).send(),
                )
                .await;
            });
        })
        .join();
    }
}

/// 32 random hex digits (no uuid dependency in this crate).
pub fn uuid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}
