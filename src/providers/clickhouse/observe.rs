//! Observation of ClickHouse services under a budget of 10 requests per 10 s per key: one
//! `GET /organizations/{org}/services` (not paged) answers for every service of the organization, so
//! reconciles read from a shared list that is at most `max_age` old instead of one GET each. Concurrent
//! reconciles of one organization wait for a single list. After a write to a service, its next reads go
//! by id (a list taken while the write was in flight must not answer for it) until `max_age` has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::ClickHouseClient;
use super::models::Service;
use crate::cloud::CloudError;

struct List {
    taken: Instant,
    services: Arc<Vec<Service>>,
}

/// The latest list of one (key id, organization); its lock makes concurrent readers wait for one list.
type Slot = Arc<tokio::sync::Mutex<Option<List>>>;

/// Shared, per (key id, organization), by every ClickHouseService reconcile of the process.
pub struct Observer {
    max_age: Duration,
    lists: Mutex<HashMap<(String, String), Slot>>,
    written: Mutex<HashMap<String, Instant>>,
}

impl Observer {
    pub fn new(max_age: Duration) -> Observer {
        Observer {
            max_age,
            lists: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, client: &ClickHouseClient) -> Slot {
        let key = (
            client.key_id().to_string(),
            client.organization_id().to_string(),
        );
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists.entry(key).or_default().clone()
    }

    /// The organization's services, from a list at most `max_age` old (`fresh`: taken now).
    pub async fn services(
        &self,
        client: &ClickHouseClient,
        fresh: bool,
    ) -> Result<Arc<Vec<Service>>, CloudError> {
        let slot = self.slot(client);
        let mut guard = slot.lock().await;
        if !fresh
            && let Some(list) = guard.as_ref()
            && list.taken.elapsed() < self.max_age
        {
            return Ok(list.services.clone());
        }
        let taken = Instant::now();
        let services = Arc::new(client.list_services(None).await?);
        *guard = Some(List {
            taken,
            services: services.clone(),
        });
        Ok(services)
    }

    /// One service: from the shared list, or by id when it was written to recently or is missing from the
    /// list (created after it was taken). `None`: it does not exist.
    pub async fn service(
        &self,
        client: &ClickHouseClient,
        id: &str,
    ) -> Result<Option<Service>, CloudError> {
        if !self.recently_written(id) {
            let list = self.services(client, false).await?;
            if let Some(s) = list.iter().find(|s| s.id == id) {
                return Ok(Some(s.clone()));
            }
        }
        match client.get_service(id).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records a write to service `id` (before and after the call).
    pub fn wrote(&self, id: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|_, at| at.elapsed() < self.max_age);
        w.insert(id.to_string(), Instant::now());
    }

    fn recently_written(&self, id: &str) -> bool {
        let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.get(id).is_some_and(|at| at.elapsed() < self.max_age)
    }
}

impl crate::cloud::writes::RecordsWrites for Observer {
    fn wrote(&self, id: &str) {
        Observer::wrote(self, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_route_reads_by_id_until_the_list_age_has_passed() {
        let o = Observer::new(Duration::from_millis(50));
        assert!(!o.recently_written("a"));
        o.wrote("a");
        assert!(o.recently_written("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!o.recently_written("a"));
    }
}
