//! The one rule every provider's observer follows around a write: record it before it is sent (a list taken
//! while it is in flight must not answer for the resource) and again when its answer or error arrives (the next
//! read goes by id, not to a list that may predate the write).

use std::future::Future;

use super::CloudError;

/// An observer that can be told a resource is being written.
pub trait RecordsWrites {
    fn wrote(&self, id: &str);
}

/// `call` (a write to `id`, not started yet) between two records of the write on `observer`.
pub async fn recorded<T>(
    observer: &impl RecordsWrites,
    id: &str,
    call: impl Future<Output = Result<T, CloudError>>,
) -> Result<T, CloudError> {
    observer.wrote(id);
    let result = call.await;
    observer.wrote(id);
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl RecordsWrites for Log {
        fn wrote(&self, id: &str) {
            self.0.lock().expect("lock").push(format!("wrote {id}"));
        }
    }

    #[tokio::test]
    async fn a_write_is_recorded_before_and_after_even_when_it_fails() {
        let log = Log::default();
        let call = async {
            log.0.lock().expect("lock").push("call".into());
            Err::<(), _>(CloudError::NotFound {
                message: "gone".into(),
            })
        };
        assert!(recorded(&log, "7", call).await.is_err());
        assert_eq!(
            *log.0.lock().expect("lock"),
            vec!["wrote 7", "call", "wrote 7"]
        );
    }
}
